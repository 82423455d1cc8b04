// Operator kinds in checkpoints. Each operator names its kind with a stable string (`window-tumbling`,
// `interval-join`), stored beside its state so that a restore can refuse state meant for another kind of operator.
// Checkpoints written before kinds existed stored the operator's class name instead (which minification and
// renames would change); those names are mapped here, and must never change.

/** The class names older checkpoints stored, and the kinds each stands for today. */
const LEGACY_CLASS_KINDS: Readonly<Record<string, readonly string[]>> = {
  MapOperator: ['map'],
  FilterOperator: ['filter'],
  FlatMapOperator: ['flat-map'],
  ProcessOperator: ['process'],
  UnionOperator: ['union'],
  TimestampAssigner: ['timestamps'],
  ProcessingTimeAssigner: ['processing-time'],
  // One class ran tumbling and sliding windows (its state is panes either way).
  PaneWindowOperator: ['window-tumbling', 'window-sliding'],
  SessionWindowOperator: ['window-session'],
  RollingOperator: ['rolling'],
  KeyedProcessOperator: ['keyed-process'],
  IntervalJoinOperator: ['interval-join'],
  WindowJoinOperator: ['window-join'],
  EnrichJoinOperator: ['enrich'],
  TemporalJoinOperator: ['temporal-join'],
  SinkOperator: ['sink'],
  RepartitionOperator: ['repartition'],
};

/** Kinds whose state another kind restores as is: a two-input keyed process operator's state is a one-input one's
 * (SQL's regular join ran as one keyed-process over its two sides unioned before it had its own kind). */
const STATE_COMPATIBLE_KINDS: Readonly<Record<string, readonly string[]>> = {
  'keyed-process': ['keyed-co-process'],
};

/** Whether state saved by an operator of kind `saved` (a kind, or an older checkpoint's class name) fits `current`. */
export function sameKind(saved: string, current: string): boolean {
  if (saved === current) return true;
  if (Object.hasOwn(LEGACY_CLASS_KINDS, saved)) {
    return LEGACY_CLASS_KINDS[saved]!.some((kind) => kind === current || sameKind(kind, current));
  }
  return Object.hasOwn(STATE_COMPATIBLE_KINDS, saved) && STATE_COMPATIBLE_KINDS[saved]!.includes(current);
}
