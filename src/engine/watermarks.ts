// Watermark strategies for withTimestamps().
import { type Duration, toMillis } from './duration.ts';
import type { WatermarkStrategy } from './operators/timestamps.ts';

export const watermarks = {
  /** Watermark = largest timestamp seen (per partition, minimum over partitions) minus `bound`. */
  boundedOutOfOrderness(bound: Duration, options: { idleTimeout?: Duration } = {}): WatermarkStrategy {
    return {
      maxOutOfOrdernessMs: toMillis(bound, 'out-of-orderness bound'),
      idleTimeoutMs: options.idleTimeout === undefined ? undefined : toMillis(options.idleTimeout, 'idle timeout'),
    };
  },
  /** Timestamps never go backwards (per partition): the watermark is the latest timestamp. */
  ascending(options: { idleTimeout?: Duration } = {}): WatermarkStrategy {
    return watermarks.boundedOutOfOrderness(0, options);
  },
};
