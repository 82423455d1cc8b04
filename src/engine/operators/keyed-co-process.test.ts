// The two-input keyed process operator (`a.connect(b).process(fn)`): each input's records to its own function,
// keyed state and timers shared per key by both inputs, snapshot and restore, and through the stream API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameKind } from '../checkpoint/kinds.ts';
import { OperatorHarness } from '../harness.ts';
import { collect, fromArrays, Pipeline, watermarks } from '../index.ts';
import { type KeyedCoProcessFunction, KeyedCoProcessOperator, KeyedProcessOperator } from './keyed-process.ts';

interface Order {
  id: string;
  amount: number;
}
interface Payment {
  order: string;
  paid: number;
}

/** Orders and payments by order id: a payment is matched with its order whichever comes first; a timer reports
 * what is still unpaid 10 ms after the order. */
const matcher: KeyedCoProcessFunction<string, Order, Payment, string> = {
  processElement1(order, ctx) {
    const paid = ctx.state.value<number>('paid');
    ctx.state.value<number>('amount').set(order.amount);
    if (paid.get() !== undefined) ctx.emit(`${ctx.key}: ${order.amount} paid ${paid.get()}`);
    ctx.timers.registerEventTimeTimer(ctx.timestamp + 10);
  },
  processElement2(payment, ctx) {
    const amount = ctx.state.value<number>('amount').get();
    const paid = ctx.state.value<number>('paid');
    paid.set((paid.get() ?? 0) + payment.paid);
    if (amount !== undefined) ctx.emit(`${ctx.key}: ${amount} paid ${paid.get()}`);
  },
  onTimer(timestamp, ctx) {
    const amount = ctx.state.value<number>('amount').get() ?? 0;
    const paid = ctx.state.value<number>('paid').get() ?? 0;
    if (paid < amount) ctx.emit(`${ctx.key}: ${amount - paid} unpaid @${timestamp}/${ctx.timeDomain}`);
  },
};

const operator = () =>
  new KeyedCoProcessOperator(
    (o: Order) => o.id,
    (p: Payment) => p.order,
    matcher,
  );

describe('keyed co-process functions', () => {
  it('send each input to its own function, with one state per key for both inputs', () => {
    const h = new OperatorHarness<Order | Payment, string>(operator(), { inputs: 2 });
    h.process([[{ order: 'a', paid: 5 }, 1]], 1); // a payment before its order
    h.process(
      [
        [{ id: 'a', amount: 5 }, 2],
        [{ id: 'b', amount: 7 }, 3],
      ],
      0,
    );
    h.process([[{ order: 'b', paid: 3 }, 4]], 1);
    assert.deepEqual(h.values(), ['a: 5 paid 5', 'b: 7 paid 3']);
  });

  it('fire event-time timers when both inputs’ watermarks pass them', () => {
    const h = new OperatorHarness<Order | Payment, string>(operator(), { inputs: 2 });
    h.process([[{ id: 'a', amount: 5 }, 1]], 0);
    h.process([[{ id: 'b', amount: 9 }, 2]], 0);
    h.process([[{ order: 'b', paid: 9 }, 3]], 1);
    h.values();
    h.watermark(20, 0);
    assert.deepEqual(h.values(), [], 'the second input holds time back');
    h.watermark(20, 1);
    assert.deepEqual(h.values(), ['a: 5 unpaid @11/event']);
  });

  it('snapshot and restore shared state and timers into a new instance', () => {
    const h = new OperatorHarness<Order | Payment, string>(operator(), { inputs: 2 });
    h.process([[{ id: 'a', amount: 5 }, 1]], 0);
    h.process([[{ order: 'a', paid: 2 }, 2]], 1);
    h.values();
    const saved = structuredClone(h.snapshot());
    const again = operator();
    const h2 = new OperatorHarness<Order | Payment, string>(again, { inputs: 2 });
    again.restore(saved);
    h2.process([[{ order: 'a', paid: 1 }, 3]], 1);
    assert.deepEqual(h2.values(), ['a: 5 paid 3']);
    h2.watermark(11);
    assert.deepEqual(h2.values(), ['a: 2 unpaid @11/event']);
  });

  it('dead-letters a record whose function throws and goes on', () => {
    const h = new OperatorHarness<Order | Payment, string>(
      new KeyedCoProcessOperator(
        (o: Order) => o.id,
        (p: Payment) => p.order,
        {
          processElement1(o, ctx) {
            ctx.emit(o.id);
          },
          processElement2() {
            throw new Error('bad payment');
          },
        },
      ),
      { inputs: 2 },
    );
    h.process([[{ order: 'x', paid: 1 }, 1]], 1);
    h.process([[{ id: 'y', amount: 1 }, 2]], 0);
    assert.deepEqual(h.values(), ['y']);
    assert.equal(h.deadLetters.length, 1);
  });

  it('run through KeyedStream.connect(…).process(…), restoring a checkpoint taken mid-stream', async () => {
    const build = (bounded: boolean, orders: Order[], payments: Payment[]) => {
      const p = new Pipeline({ name: 'co-process', bounded });
      const out = collect<string>();
      const a = p
        .source(fromArrays([orders]))
        .withTimestamps(() => 1, watermarks.ascending())
        .keyBy((o) => o.id);
      const b = p
        .source(fromArrays([payments]))
        .withTimestamps(() => 0, watermarks.ascending())
        .keyBy((x) => x.order);
      a.connect(b).process(matcher).uid('match').sinkTo(out);
      return { p, out };
    };
    const first = build(false, [{ id: 'a', amount: 5 }], [{ order: 'a', paid: 2 }]);
    await first.p.run();
    assert.deepEqual(first.out.values, ['a: 5 paid 2']);
    const saved = structuredClone(first.p.snapshot());
    // The same sources with one more payment: the restored run reads on from the checkpoint's offsets.
    const second = build(
      true,
      [{ id: 'a', amount: 5 }],
      [
        { order: 'a', paid: 2 },
        { order: 'a', paid: 3 },
      ],
    );
    second.p.restore(saved);
    await second.p.run();
    assert.deepEqual(second.out.values, ['a: 5 paid 5']);
  });

  it('restore a one-input keyed process operator’s state (its checkpoint kind keyed-process fits)', () => {
    const one = new KeyedProcessOperator((o: Order) => o.id, {
      processElement(order: Order, ctx) {
        matcher.processElement1(order, ctx);
      },
    });
    const h = new OperatorHarness<Order, string>(one);
    h.process([[{ id: 'a', amount: 5 }, 1]]);
    const saved = structuredClone(h.snapshot());
    const again = operator();
    const h2 = new OperatorHarness<Order | Payment, string>(again, { inputs: 2 });
    again.restore(saved);
    h2.process([[{ order: 'a', paid: 5 }, 2]], 1);
    assert.deepEqual(h2.values(), ['a: 5 paid 5']);
    assert.ok(sameKind('keyed-process', 'keyed-co-process'));
    assert.ok(sameKind('KeyedProcessOperator', 'keyed-co-process'));
    assert.ok(!sameKind('keyed-co-process', 'keyed-process'));
  });

  it('keep several timers of a key, deleted ones not fired, across a snapshot', () => {
    const fn: KeyedCoProcessFunction<string, string, string, string> = {
      processElement1(_v, ctx) {
        ctx.timers.registerEventTimeTimer(10);
        ctx.timers.registerEventTimeTimer(20);
        ctx.timers.registerEventTimeTimer(30);
        ctx.timers.registerEventTimeTimer(20);
      },
      processElement2(_v, ctx) {
        ctx.timers.deleteEventTimeTimer(20);
      },
      onTimer(timestamp, ctx) {
        ctx.emit(`${ctx.key}@${timestamp}`);
      },
    };
    const make = () =>
      new KeyedCoProcessOperator(
        (v: string) => v,
        (v: string) => v,
        fn,
      );
    const h = new OperatorHarness<string, string>(make(), { inputs: 2 });
    h.process([['a', 1]], 0);
    h.process([['b', 1]], 0);
    h.process([['a', 2]], 1);
    h.watermark(10);
    assert.deepEqual(h.values(), ['a@10', 'b@10']);
    const saved = structuredClone(h.snapshot());
    const again = make();
    const h2 = new OperatorHarness<string, string>(again, { inputs: 2 });
    again.restore(saved);
    h2.watermark(30);
    assert.deepEqual(h2.values().sort(), ['a@30', 'b@20', 'b@30']);
  });
});
