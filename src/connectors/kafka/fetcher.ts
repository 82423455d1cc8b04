// Reads partitions of a Kafka cluster with Fetch requests of its own (fetch-connection.ts: the project's protocol
// codec, no consumer group), pages of raw record batches: reads, each followed by a read ahead of the partition's
// next page while it has more, and long polls that wait for data. Waits asked for in the same tick share one fetch
// per broker (a source waits on all its partitions at once, and a broker answers one request per connection at a
// time, so separate long polls would queue behind each other). Pages a poll brought back are kept so that the read
// that follows at that offset costs no second round trip. Each read and wait is read_committed (up to the last
// stable offset, without aborted transactions) or read_uncommitted.
import { SluiceError } from '../../errors.ts';
import type { RawReadResult } from '../../log/index.ts';
import { type Alloc, FetchConnection } from './fetch-connection.ts';
import { PagePool } from './page-pool.ts';
import { type FetchedPartition, toRawPage } from './records.ts';

export interface FetchTarget {
  /** The partition leader's node id. */
  node: number;
}

export interface FetcherOptions {
  clientId: string;
  /** The Fetch version to send (4–12: what the codec and the cluster both have). */
  version(): number;
  /** Where a node listens. */
  address(node: number): { host: string; port: number };
  target(topic: string, partition: number): FetchTarget;
  /** Every partition a fetch saw: its end and start offsets. */
  observed(topic: string, partition: number, page: RawReadResult): void;
  /** Reloads the metadata after a partition's leader moved (the fetch is then sent again, to the new leader). */
  stale(topic: string): Promise<void>;
}

interface Request {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  /** Read committed (else uncommitted). */
  committed: boolean;
}

/** A page a long poll fetched, from `offset`, that no read has taken yet. */
interface Prefetched {
  offset: number;
  committed: boolean;
  page: RawReadResult;
}

interface Waiter {
  request: Request;
  deadline: number;
  signal: AbortSignal | undefined;
  resolve(ready: boolean): void;
  reject(error: unknown): void;
  settled: boolean;
}

/** A partition's next page, fetched while the current one is read (see readAhead). */
interface Ahead {
  offset: number;
  committed: boolean;
  maxBytes: number;
  lend: boolean;
  page: Promise<RawReadResult>;
}

/** One partition's outcome in a fetch: a page, or Kafka's error code for it. */
type Outcome = { page: RawReadResult } | { errorCode: number };

/** A broker's connections of one kind, by node id. */
type Pool = Map<number, FetchConnection>;

const PAGE_BYTES = 1 << 20;
const EMPTY = Buffer.alloc(0);
/** Tries of a read whose connection broke or whose partition's leader moved. */
const TRIES = 3;
const RETRY_DELAY_MS = 250;

export class Fetcher {
  private readonly prefetched = new Map<string, Prefetched>();
  /** Pages read ahead, by partition. */
  private readonly ahead = new Map<string, Ahead>();
  private queue: Waiter[] = [];
  private polling = false;
  private flushScheduled = false;
  private closed = false;
  private readonly options: FetcherOptions;
  /** One-off reads. */
  private readonly readers: Pool = new Map();
  /** Long polls only, on connections of their own, so that a poll never holds a read back. */
  private readonly pollers: Pool = new Map();
  /** Memory of the pages reads lend out (readRaw with `lend`), reused once given back. */
  private readonly pages = new PagePool();
  private readonly lendPage: Alloc = (size) => this.pages.take(size);

  constructor(options: FetcherOptions) {
    this.options = options;
  }

  async read(
    topic: string,
    partition: number,
    offset: number,
    maxBytes = PAGE_BYTES,
    committed = false,
    lend = false,
  ): Promise<RawReadResult> {
    const key = keyOf(topic, partition);
    const kept = this.prefetched.get(key);
    this.prefetched.delete(key);
    const ahead = this.ahead.get(key);
    this.ahead.delete(key);
    const request: Request = { topic, partition, offset, maxBytes, committed };
    if (kept?.offset === offset && kept.committed === committed) {
      if (ahead) this.discard(ahead);
      return kept.page;
    }
    let page: RawReadResult | undefined;
    if (
      ahead?.offset === offset &&
      ahead.committed === committed &&
      ahead.maxBytes === maxBytes &&
      ahead.lend === lend
    ) {
      page = await ahead.page.catch(() => undefined); // a read ahead that failed is read again
    } else if (ahead) this.discard(ahead);
    page ??= await this.fetchPage(request, lend);
    this.readAhead(key, request, page, lend);
    return page;
  }

  /**
   * While the partition has more to read than the page held, its next page is fetched as the caller works through
   * this one (on the same connection, behind the reads in flight): catching up on a backlog then costs no round trip
   * per page — the broker's answer, a millisecond to tens of them on a busy machine, overlaps the work.
   */
  private readAhead(key: string, request: Request, page: RawReadResult, lend: boolean): void {
    if (this.closed || page.nextOffset <= request.offset || page.nextOffset >= readableEnd(page, request)) return;
    const next: Request = { ...request, offset: page.nextOffset };
    const ahead: Ahead = {
      offset: next.offset,
      committed: next.committed,
      maxBytes: next.maxBytes,
      lend,
      page: this.fetchPage(next, lend),
    };
    ahead.page.catch(() => {}); // the read that takes it tries again
    this.ahead.set(key, ahead);
  }

  /** A page read ahead that no read will take: its memory goes back once it has come. */
  private discard(ahead: Ahead): void {
    if (ahead.lend)
      ahead.page.then(
        (page) => this.pages.give(page.batches),
        () => {},
      );
  }

  private async fetchPage(request: Request, lend: boolean): Promise<RawReadResult> {
    const { topic, partition, offset } = request;
    for (let tries = 1; ; tries++) {
      let outcome: Outcome;
      try {
        outcome = await this.fetchOne(this.readers, request, lend ? this.lendPage : undefined);
      } catch (error) {
        if (tries >= TRIES || this.closed || (error as SluiceError).code !== 'BROKER_UNAVAILABLE') throw error;
        // A broken connection is replaced by the next try's, after a pause for a broker that is restarting.
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * tries));
        continue;
      }
      if (!('errorCode' in outcome)) {
        // Nothing to read: the page's memory goes back at once (the reader gives back only pages it reads).
        if (lend && outcome.page.nextOffset <= offset) this.pages.give(outcome.page.batches);
        return outcome.page;
      }
      if (tries < TRIES && LEADER_MOVED.has(outcome.errorCode)) {
        await this.options.stale(topic);
        continue;
      }
      throw this.partitionError(outcome.errorCode, topic, partition, offset);
    }
  }

  /** Gives back the memory of a page read with `lend` once nothing holds a view into it: the next read reuses it. */
  release(batches: Buffer): void {
    this.pages.give(batches);
  }

  /** True when a fetched page at `offset`, read at that isolation level, is waiting to be read. */
  hasPage(topic: string, partition: number, offset: number, committed = false): boolean {
    const kept = this.prefetched.get(keyOf(topic, partition));
    return kept?.offset === offset && kept.committed === committed;
  }

  /**
   * Resolves true once `partition` has something to read at `offset` — below the high watermark, or read committed
   * below the last stable offset — false after `timeoutMs` or once `signal` aborts.
   */
  wait(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
    committed = false,
  ): Promise<boolean> {
    if (signal?.aborted || this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        request: { topic, partition, offset, maxBytes: PAGE_BYTES, committed },
        deadline: Date.now() + timeoutMs,
        signal,
        settled: false,
        resolve: (ready) => settle(() => resolve(ready)),
        reject: (error) => settle(() => reject(error)),
      };
      const onAbort = () => waiter.resolve(false); // the poll carries on; its pages are kept for the next read
      const settle = (done: () => void) => {
        if (waiter.settled) return;
        waiter.settled = true;
        signal?.removeEventListener('abort', onAbort);
        done();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(waiter);
    });
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.queue) waiter.resolve(false);
    this.queue = [];
    this.prefetched.clear();
    for (const ahead of this.ahead.values()) this.discard(ahead);
    this.ahead.clear();
    this.pages.clear();
    for (const pool of [this.readers, this.pollers]) {
      for (const connection of pool.values()) connection.close();
      pool.clear();
    }
  }

  private enqueue(waiter: Waiter): void {
    this.queue.push(waiter);
    if (!this.polling) this.schedulePoll();
  }

  /**
   * Polls on the next turn of the event loop: waits asked for in one tick go into one fetch, and a wait whose
   * caller gave up (aborted once another partition woke it) is settled before the next poll is built.
   */
  private schedulePoll(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.poll();
    });
  }

  /** One long poll for every waiter queued so far; waiters still waiting afterwards go into the next one. */
  private async poll(): Promise<void> {
    const waiters = this.queue.filter((w) => !w.settled);
    this.queue = [];
    if (waiters.length === 0 || this.closed) return;
    this.polling = true;
    const now = Date.now();
    const maxWait = Math.max(0, Math.min(...waiters.map((w) => w.deadline - now)));
    // One fetch per isolation level (a request has one): waits of both levels at once are rare.
    const byLevel = new Map<boolean, Map<string, Request>>();
    for (const { request } of waiters) {
      let requests = byLevel.get(request.committed);
      if (!requests) byLevel.set(request.committed, (requests = new Map()));
      requests.set(keyOf(request.topic, request.partition), request);
    }
    let outcomes: Map<boolean, Map<string, Outcome>> | undefined;
    let failure: unknown;
    try {
      const levels = [...byLevel];
      const answers = await Promise.all(
        levels.map(([, requests]) => this.fetchMany(this.pollers, [...requests.values()], maxWait, true)),
      );
      outcomes = new Map(levels.map(([committed], i) => [committed, answers[i]!]));
    } catch (error) {
      failure = error;
    }
    this.polling = false;
    const after = Date.now();
    for (const w of waiters) {
      if (w.settled) continue;
      if (this.closed) w.resolve(false);
      else if (outcomes === undefined) w.reject(failure);
      else {
        const outcome = outcomes.get(w.request.committed)?.get(keyOf(w.request.topic, w.request.partition));
        // A partition error (out of range, moved leader) is for the read that follows to report.
        if (
          outcome !== undefined &&
          ('errorCode' in outcome || readableEnd(outcome.page, w.request) > w.request.offset)
        ) {
          w.resolve(true);
        } else if (after >= w.deadline) w.resolve(false);
        else this.queue.push(w);
      }
    }
    if (this.queue.length > 0) this.schedulePoll();
  }

  /** One partition at once (no wait): its page, in memory from `alloc` when given. */
  private async fetchOne(pool: Pool, request: Request, alloc: Alloc | undefined): Promise<Outcome> {
    const outcomes = await this.fetchMany(pool, [request], 0, false, alloc);
    const empty: RawReadResult = {
      batches: EMPTY,
      nextOffset: request.offset,
      highWatermark: request.offset,
      lastStableOffset: request.offset,
      logStartOffset: 0,
    };
    return outcomes.get(keyOf(request.topic, request.partition)) ?? { page: empty };
  }

  /**
   * Fetches every request (one fetch per leader, in parallel; all of one isolation level); a poll (`keep`) keeps the
   * pages it fetched for the reads that follow.
   */
  private async fetchMany(
    pool: Pool,
    requests: Request[],
    maxWaitMs: number,
    keep: boolean,
    alloc?: Alloc,
  ): Promise<Map<string, Outcome>> {
    const committed = requests[0]?.committed ?? false;
    const byNode = new Map<number, Request[]>();
    for (const r of requests) {
      const { node } = this.options.target(r.topic, r.partition);
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(r);
    }
    const outcomes = new Map<string, Outcome>();
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        const topics = new Map<string, { topic: string; partitions: FetchPartition[] }>();
        let maxBytes = 0;
        for (const r of list) {
          let entry = topics.get(r.topic);
          if (!entry) topics.set(r.topic, (entry = { topic: r.topic, partitions: [] }));
          entry.partitions.push({
            partition: r.partition,
            currentLeaderEpoch: -1,
            fetchOffset: r.offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1,
            partitionMaxBytes: r.maxBytes,
          });
          maxBytes += r.maxBytes;
        }
        // No fetch session (epoch -1): every partition asked for is answered, each request complete in itself.
        const answer = await this.connection(pool, node).fetch(
          this.options.version(),
          {
            replicaId: -1,
            maxWaitMs,
            minBytes: 1,
            maxBytes,
            isolationLevel: committed ? 1 : 0,
            sessionId: 0,
            sessionEpoch: -1,
            topics: [...topics.values()],
            forgottenTopicsData: [],
            rackId: '',
          },
          maxWaitMs,
          alloc,
        );
        if (answer.errorCode !== 0) {
          throw new SluiceError('FETCH_FAILED', `fetch from node ${node}: Kafka error code ${answer.errorCode}`, {
            node,
            errorCode: answer.errorCode,
          });
        }
        for (const t of answer.responses) {
          for (const p of t.partitions) this.record(outcomes, list, t.topic, p, keep);
        }
      }),
    );
    return outcomes;
  }

  /** The pool's connection to `node`, a new one when there is none or it broke. */
  private connection(pool: Pool, node: number): FetchConnection {
    let connection = pool.get(node);
    if (connection === undefined || connection.broken) {
      connection?.close();
      const { host, port } = this.options.address(node);
      connection = new FetchConnection(host, port, this.options.clientId);
      pool.set(node, connection);
    }
    return connection;
  }

  private record(
    outcomes: Map<string, Outcome>,
    requests: Request[],
    topic: string,
    p: FetchedPartition,
    keep: boolean,
  ): void {
    const key = keyOf(topic, p.partitionIndex);
    const request = requests.find((r) => r.topic === topic && r.partition === p.partitionIndex);
    if (request === undefined) return;
    if (p.errorCode !== 0) {
      outcomes.set(key, { errorCode: p.errorCode });
      return;
    }
    const page = toRawPage(request.offset, p, request.committed);
    this.options.observed(topic, p.partitionIndex, page);
    outcomes.set(key, { page });
    if (
      keep &&
      page.nextOffset > request.offset &&
      !this.hasPage(topic, p.partitionIndex, request.offset, request.committed)
    ) {
      this.prefetched.set(key, { offset: request.offset, committed: request.committed, page });
    }
  }

  private partitionError(errorCode: number, topic: string, partition: number, offset: number): SluiceError {
    const where = `${topic}-${partition}`;
    if (errorCode === OFFSET_OUT_OF_RANGE) {
      return new SluiceError('OFFSET_OUT_OF_RANGE', `${where}: offset ${offset} is out of range`, {
        topic,
        partition,
        offset,
      });
    }
    if (errorCode === UNKNOWN_TOPIC_OR_PARTITION) {
      return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `${where}: the cluster does not host it`, {
        topic,
        partition,
      });
    }
    return new SluiceError('FETCH_FAILED', `${where}: Kafka error code ${errorCode} reading offset ${offset}`, {
      topic,
      partition,
      offset,
      errorCode,
    });
  }
}

type FetchPartition = FetchRequestOf['topics'][number]['partitions'][number];
type FetchRequestOf = Parameters<FetchConnection['fetch']>[1];

/** Kafka's error codes for the two partition errors callers handle. */
const OFFSET_OUT_OF_RANGE = 1;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
/**
 * The partition's leader is elsewhere now (LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
 * UNKNOWN_LEADER_EPOCH): the metadata is reloaded and the read tried again.
 */
const LEADER_MOVED = new Set([5, 6, 74, 76]);

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Where a reader at the request's isolation level finds the partition's end. */
function readableEnd(page: RawReadResult, request: Request): number {
  return request.committed ? (page.lastStableOffset ?? page.highWatermark) : page.highWatermark;
}
