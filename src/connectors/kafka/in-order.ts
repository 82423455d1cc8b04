// Appends to one partition go out one after the other, in call order: an idempotent producer keeps one partition's
// batches in order only while none needs a retry, and a sink writes each partition once per batch anyway.

export class InOrder<T> {
  /** The last append per partition. */
  private readonly last = new Map<string, Promise<T>>();

  /** Runs `send` once the partition's previous append has settled (succeeded or not). */
  run(topic: string, partition: number, send: () => Promise<T>): Promise<T> {
    const key = `${topic}\u0000${partition}`;
    const previous = this.last.get(key);
    const result = previous === undefined ? send() : previous.then(send, send);
    this.last.set(key, result);
    const forget = () => {
      if (this.last.get(key) === result) this.last.delete(key);
    };
    result.then(forget, forget);
    return result;
  }

  /** Every append in flight, acknowledged (rejects with the first failure). */
  all(): Promise<T[]> {
    return Promise.all(this.last.values());
  }

  /** Every append in flight, settled. */
  settled(): Promise<PromiseSettledResult<T>[]> {
    return Promise.allSettled(this.last.values());
  }
}
