// A real broker on 127.0.0.1 (ephemeral port) over a real log in a temp directory, restartable on the same data.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrokerOptions, type KafkaBroker, startBroker } from '../../src/kafka/index.ts';
import { type Log, openLog } from '../../src/log/index.ts';

export interface TestBroker {
  log: Log;
  broker: KafkaBroker;
  dataDir: string;
  bootstrap: string;
  /** Closes broker and log and opens both again on the same data directory and port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBroker(options: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-'));
  const state = {} as TestBroker;
  const start = async (port: number) => {
    state.log = await openLog({ dataDir });
    state.broker = await startBroker({ initialRebalanceDelayMs: 50, ...options, log: state.log, port });
    state.bootstrap = state.broker.address;
  };
  await start(0);
  state.dataDir = dataDir;
  state.restart = async () => {
    const port = state.broker.port;
    await state.broker.close();
    await state.log.close();
    await start(port);
  };
  state.close = async () => {
    await state.broker.close();
    await state.log.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return state;
}

/**
 * Resolves once `measure` (records, rows: anything that only grows as the work goes on) reaches `target`, checking
 * every `everyMs`. Budgeted by progress, not by time: it rejects only when the measure has not grown for `stallMs`,
 * since a loaded machine is slower, not stuck.
 */
export async function progresses(
  measure: () => number | Promise<number>,
  target: number,
  what: string,
  stallMs = 30_000,
  everyMs = 100,
): Promise<void> {
  let best = -Infinity;
  for (let grew = Date.now(); ; await new Promise((resolve) => setTimeout(resolve, everyMs))) {
    const now = await measure();
    if (now >= target) return;
    if (now > best) [best, grew] = [now, Date.now()];
    else if (Date.now() - grew > stallMs) throw new Error(`${what}: stuck at ${now} of ${target} for ${stallMs} ms`);
  }
}

/** Retries `check` (assertions) until it passes, or throws its last failure after `timeoutMs`. */
export async function untilPasses(check: () => Promise<void>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
/** Resolves when `condition` holds, checking every `everyMs`; rejects after `timeoutMs` with `what`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
