// A pipeline's source partitions: where each source reads, the event time each partition has reached, and whether
// it is idle (caught up with nothing new for the idle timeout, so it no longer holds the watermark back).
import type { SourceJson, SourcePartitionJson } from '../../../src/http/api.ts';
import { fmtDuration, fmtLag, fmtNumber, fmtTime, LAG_HELP } from '../format.ts';
import { type Column, DataTable } from './DataTable.tsx';

interface Row extends SourcePartitionJson {
  operator: string;
}

export function SourcePartitions(props: { sources: SourceJson[]; at: number; pipeline: string }) {
  const rows: Row[] = props.sources.flatMap((s) => s.partitions.map((p) => ({ ...p, operator: s.operator })));
  if (rows.length === 0) return null;
  const columns: Column<Row>[] = [
    { label: 'Source', cell: (r) => r.operator },
    { label: 'Partition', numeric: true, cell: (r) => r.partition },
    { label: 'Next offset', numeric: true, cell: (r) => fmtNumber(r.offset) },
    {
      label: 'Watermark',
      cell: (r) => fmtTime(r.watermark),
      title: "this partition's event time: its largest timestamp minus the out-of-orderness bound",
    },
    {
      label: 'Lag',
      numeric: true,
      // Against the time the metrics were taken, signed: a partition whose event time runs ahead shows "ahead by".
      cell: (r) => fmtLag(r.watermark === null ? null : props.at - r.watermark),
      title: LAG_HELP,
    },
    {
      label: 'Status',
      title: 'an idle partition has been caught up with nothing new for its idle timeout: it does not hold time back',
      cell: (r) =>
        r.idle ? (
          <span data-testid="partition-status" data-idle="true">
            <span class="pill idle">idle</span>
            {r.idleSince !== null && (
              <span class="muted small"> for {fmtDuration(Math.max(0, props.at - r.idleSince))}</span>
            )}
          </span>
        ) : (
          <span data-testid="partition-status" data-idle="false">
            <span class="pill ok">active</span>
          </span>
        ),
    },
  ];
  return (
    <>
      <h3>Source partitions</h3>
      <DataTable
        columns={columns}
        rows={rows}
        rowKey={(r) => `${r.operator}#${r.partition}`}
        testId="source-partitions"
        caption={`Source partitions of ${props.pipeline}`}
        pageSize={20}
      />
    </>
  );
}
