// Crash tests' shared parts: a deterministic input written to a fresh data directory, a pipeline run as `sluice run
// --bounded` that can be SIGKILLed a while after it started, and the output topics as read_committed readers see them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { type IsolationLevel, openLog } from '../../src/log/index.ts';
import { SLUICE } from '../../support/processes.ts';

/** A small deterministic PRNG (mulberry32), so that every run sees the same input. */
export function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Input = {
  topic: string;
  partitions: number;
  /** Records to write (default: the test's count). */
  count?: number;
  records: (rand: () => number, i: number) => { key: string; value: unknown };
};

export async function writeInput(dataDir: string, inputs: Input[], count: number): Promise<void> {
  const log = await openLog({ dataDir });
  const rand = random(42);
  for (const input of inputs) {
    await log.createTopic(input.topic, { partitions: input.partitions });
    const perPartition: { key: Buffer; value: Buffer }[][] = Array.from({ length: input.partitions }, () => []);
    for (let i = 0; i < (input.count ?? count); i++) {
      const { key, value } = input.records(rand, i);
      perPartition[i % input.partitions]!.push({ key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) });
    }
    for (let p = 0; p < input.partitions; p++) {
      const records = perPartition[p]!;
      for (let i = 0; i < records.length; i += 500) await log.append(input.topic, p, records.slice(i, i + 500));
    }
  }
  await log.close();
}

/** Each topic's record values, sorted, as a reader at `isolation` sees them (read_committed by default). */
export async function readTopics(
  dataDir: string,
  topics: string[],
  isolation: IsolationLevel = 'read_committed',
): Promise<Record<string, string[]>> {
  const log = await openLog({ dataDir });
  const out: Record<string, string[]> = {};
  try {
    for (const topic of topics) {
      const values: string[] = [];
      for (const p of log.describeTopic(topic).partitions) {
        const end = isolation === 'read_committed' ? p.lastStableOffset : p.logEndOffset;
        for (let offset = p.logStartOffset; offset < end; ) {
          // What a read_committed consumer sees: transactions a crash aborted stay in the log, skipped.
          const page = log.readRecords(topic, p.partition, offset, { isolation });
          for (const r of page.records) values.push(r.value?.toString() ?? '');
          offset = page.nextOffset;
        }
      }
      out[topic] = values.sort();
    }
  } finally {
    await log.close();
  }
  return out;
}

/**
 * Runs the pipeline bounded; resolves with its exit code, or kills it `killAfterMs` after it started working. Its
 * Kafka listener is open on `kafkaPort` when one is given.
 */
export function runPipeline(
  file: string,
  dataDir: string,
  args: string[],
  killAfterMs?: number,
  kafkaPort?: number,
): Promise<{ code: number | null; killed: boolean; output: string }> {
  const kafka = kafkaPort === undefined ? ['--no-kafka'] : ['--kafka-port', String(kafkaPort)];
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [SLUICE, 'run', file, '--data-dir', dataDir, '--bounded', ...kafka, '--no-http', ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_TEST_CONTEXT: '', SLUICE_LOG_LEVEL: 'warn' },
      },
    );
    let output = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (killAfterMs !== undefined && timer === undefined && output.includes('sluice run')) {
        timer = setTimeout(() => {
          killed = child.kill('SIGKILL');
        }, killAfterMs);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, killed: killed && code === null, output });
    });
  });
}

/**
 * Runs the pipeline bounded in `crashed` again and again, SIGKILLing each run at a random instant, until `kills`
 * kills are behind it and a run completes. A run that finishes before its kill starts everything over from
 * `pristine`, killing sooner (`onStartOver` first), so that the final run has seen every kill. Budgeted by progress:
 * a bounded number of attempts per kill.
 */
export async function killUntilDone(options: {
  file: string;
  crashed: string;
  pristine: string;
  kills: number;
  seed: number;
  maxDelayMs: number;
  kafkaPort?: number;
  onStartOver?: () => Promise<void>;
}): Promise<void> {
  const rand = random(options.seed);
  let kills = 0;
  let attempts = 0;
  let maxDelayMs = options.maxDelayMs;
  for (;;) {
    attempts++;
    assert.ok(attempts < options.kills * 6, `the pipeline keeps making progress between kills (${kills} kills)`);
    const wantKill = kills < options.kills;
    const delay = wantKill ? Math.floor(rand() * maxDelayMs) : undefined;
    const args = ['--checkpoint-interval', '40ms'];
    const result = await runPipeline(options.file, options.crashed, args, delay, options.kafkaPort);
    if (result.killed) {
      kills++;
      continue;
    }
    assert.equal(result.code, 0, result.output);
    if (!wantKill) return;
    kills = 0;
    maxDelayMs = Math.max(100, Math.floor(maxDelayMs * 0.6));
    fs.rmSync(options.crashed, { recursive: true, force: true });
    fs.cpSync(options.pristine, options.crashed, { recursive: true });
    await options.onStartOver?.();
  }
}
