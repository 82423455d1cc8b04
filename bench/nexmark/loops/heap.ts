// A min-heap of [time, value] pairs: the hand-written loops close auctions in order of expiry (q4, q6, q9) with it,
// as the engine's event-time timers do.

/** A min-heap of [time, value] (auction expiries). */
export class Heap<V> {
  private readonly times: number[] = [];
  private readonly values: V[] = [];
  get size() {
    return this.times.length;
  }
  peek(): number {
    return this.times[0]!;
  }
  push(time: number, value: V): void {
    const { times, values } = this;
    let i = times.length;
    times.push(time);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      values[i] = values[parent]!;
      i = parent;
    }
    times[i] = time;
    values[i] = value;
  }
  pop(): V {
    const { times, values } = this;
    const top = values[0]!;
    const lastTime = times.pop()!;
    const lastValue = values.pop()!;
    if (times.length > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= times.length) break;
        if (child + 1 < times.length && times[child + 1]! < times[child]!) child++;
        if (times[child]! >= lastTime) break;
        times[i] = times[child]!;
        values[i] = values[child]!;
        i = child;
      }
      times[i] = lastTime;
      values[i] = lastValue;
    }
    return top;
  }
}
