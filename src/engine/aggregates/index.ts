// Built-in aggregates (`agg.count()`, `agg.avg(f)`, ...) and the interface for user-defined ones.
export {
  type Aggregate,
  type AnyAggregate,
  avg,
  count,
  distinctCount,
  max,
  min,
  multi,
  type ResultOf,
  sum,
  topN,
} from './aggregate.ts';
export { percentiles, type Sketch } from './ddsketch.ts';
export { approxDistinct } from './hyperloglog.ts';
