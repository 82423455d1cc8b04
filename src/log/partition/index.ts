// One partition of a topic, for log.ts: its state (state.ts) and the functions that open, append to, sync, read,
// wait on, trim and close it, each family in its own file.
export { appendBatches, roll } from './append.ts';
export { writeMarker } from './markers.ts';
export { closePartition, closePartitionForDelete, openPartition } from './open.ts';
export { offsetForTimestamp, readRaw, readRecords } from './read.ts';
export { Partition } from './state.ts';
export { flushPartition, syncNow } from './sync.ts';
export { abortedBetween } from './transactions.ts';
export { enforceRetention, purgeBefore, truncateTo } from './trim.ts';
export { waitForData } from './wait.ts';
