// Running programs for tests and benchmarks: an external program (kcat...) to completion, feeding stdin and collecting
// stdout/stderr, and the `sluice` executable, once or as a long-running daemon.
import { spawn, spawnSync } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * A child's hang guard: a command that runs longer is SIGKILLed and says so in its stderr. Generous, because a CLI
 * call on a loaded 2-core machine can take tens of seconds; tests wait on progress, not on this.
 */
const HANG_GUARD_MS = 300_000;

export function run(
  command: string,
  args: string[],
  input?: string | Buffer,
  timeoutMs = HANG_GUARD_MS,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n[killed: still running after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.end(input);
  });
}

/** True when `command` is installed (tests that drive it explain themselves when it is not). */
export function installed(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

export const SLUICE = new URL('../bin/sluice.js', import.meta.url).pathname;

/** Runs the `sluice` executable with the Node running the tests. */
export function sluice(args: string[], input?: string | Buffer, timeoutMs = HANG_GUARD_MS): Promise<RunResult> {
  return run(process.execPath, [SLUICE, ...args], input, timeoutMs);
}

export interface Daemon {
  /** Resolves with the first stdout line matching `pattern` (its match), rejecting if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ReturnType<typeof spawn>>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts a long-running `sluice` command (broker, dev, run...). */
export function startSluice(args: string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(process.execPath, [SLUICE, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_TEST_CONTEXT: '', ...env },
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code, signal) => {
      if (signal) output += `\n[terminated by ${signal}]`;
      resolve(code);
    }),
  );
  // A failed assertion must not leave the daemon running, nor keep the test process alive waiting for it.
  running.add(child);
  child.on('exit', () => running.delete(child));
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    output: () => output,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`sluice ${args[0]} exited (${child.exitCode}):\n${output}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
