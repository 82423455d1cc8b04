// A uPlot chart as a Preact component: created once per shape (series and axes), fed new data in place (no
// re-creation per update, so that live charts stay cheap), and resized with its container. The last point is
// exposed as data attributes for tests and for anyone reading the page without seeing the chart.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtNumber, fmtTime, fmtTimeTicks } from '../format.ts';
import { useWidth } from '../hooks.ts';

/** Colour-blind-safe, distinguishable in light and dark themes (Okabe–Ito, then Tableau). */
export const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#56b4e9',
  '#d55e00',
  '#8c8c00',
  '#9467bd',
  '#7f7f7f',
  '#17becf',
];

export interface ChartSeries {
  label: string;
  color?: string;
  dash?: boolean;
  /** Put it on the second y axis (right). */
  right?: boolean;
}

export interface ChartProps {
  /** [x values, then one array per series]; x in epoch ms for time axes. */
  data: (number | null)[][];
  series: ChartSeries[];
  /** time (epoch ms), number, or category (x = index into `categories`). */
  x?: 'time' | 'number' | 'category';
  xLabel?: string;
  categories?: string[];
  bars?: boolean;
  height?: number;
  yFormat?: (value: number) => string;
  rightFormat?: (value: number) => string;
  /** Shown instead of the chart when there is no point. */
  empty?: string;
  label?: string;
  testId?: string;
}

/** Time axis steps: whole seconds and up (sub-second ticks only clutter a live chart). */
const TIME_STEPS = [
  1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5,
  2592e6, 31536e6,
];

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function Chart(props: ChartProps) {
  const { data, series, x = 'time', height = 220, bars = false } = props;
  const [host, width] = useWidth<HTMLDivElement>();
  const plot = useRef<uPlot | null>(null);
  const categories = useRef<string[]>([]);
  categories.current = props.categories ?? [];
  const yFormat = props.yFormat ?? fmtNumber;
  const points = data[0]?.length ?? 0;
  // Dots on the line help while there are few points, and only clutter later.
  const dots = points < 60;
  const shape = JSON.stringify([series, x, bars, height, props.xLabel, !!props.rightFormat, dots]);

  useEffect(() => {
    const element = host.current;
    if (!element || width === 0) return;
    const axis = cssVar('--muted', '#6b7280');
    const grid = cssVar('--grid', 'rgba(127,127,127,0.15)');
    const xValue =
      x === 'time'
        ? (_: uPlot, v: number | null) => (v === null ? '—' : fmtTime(v))
        : x === 'category'
          ? (_: uPlot, v: number | null) => (v === null ? '—' : (categories.current[v] ?? ''))
          : (_: uPlot, v: number | null) => (v === null ? '—' : fmtNumber(v));
    const options: uPlot.Options = {
      width,
      height,
      ms: 1,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: {
        x: { time: x === 'time', ...(x === 'category' || bars ? { distr: 2 as const } : {}) },
        y: { auto: true },
        ...(props.rightFormat ? { right: { auto: true } } : {}),
      },
      series: [
        { label: props.xLabel ?? (x === 'time' ? 'time' : 'x'), value: xValue },
        ...series.map((s, i) => {
          const color = s.color ?? PALETTE[i % PALETTE.length]!;
          return {
            label: s.label,
            stroke: color,
            width: 1.5,
            scale: s.right ? 'right' : 'y',
            spanGaps: true,
            dash: s.dash ? [6, 4] : undefined,
            fill: series.length === 1 || bars ? `${color}33` : undefined,
            points: { show: dots, size: 4 },
            ...(bars ? { paths: uPlot.paths.bars!({ size: [0.7, 60] }), points: { show: false } } : {}),
            value: (_: uPlot, v: number | null) =>
              v === null ? '—' : s.right && props.rightFormat ? props.rightFormat(v) : yFormat(v),
          };
        }),
      ],
      axes: [
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          ...(x === 'time'
            ? { incrs: TIME_STEPS, space: 70, values: (_: uPlot, ticks: number[]) => fmtTimeTicks(ticks) }
            : x === 'category'
              ? {
                  values: (_: uPlot, ticks: number[]) => ticks.map((t) => categories.current[t] ?? ''),
                  rotate: 0,
                }
              : { values: (_: uPlot, ticks: number[]) => ticks.map(fmtNumber) }),
        },
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: 56,
          values: (_: uPlot, ticks: number[]) => ticks.map(yFormat),
        },
        ...(props.rightFormat
          ? [
              {
                scale: 'right',
                side: 1 as const,
                stroke: axis,
                grid: { show: false },
                ticks: { stroke: grid, width: 1 },
                size: 64,
                values: (_: uPlot, ticks: number[]) => ticks.map(props.rightFormat!),
              },
            ]
          : []),
      ],
    };
    const chart = new uPlot(options, data as uPlot.AlignedData, element);
    showLatest(chart);
    plot.current = chart;
    return () => {
      chart.destroy();
      plot.current = null;
    };
    // Re-created only when the shape changes; data and width are applied in place below.
  }, [shape, width === 0]);

  useEffect(() => {
    const chart = plot.current;
    if (!chart) return;
    chart.setData(data as uPlot.AlignedData);
    showLatest(chart);
  }, [data]);

  useEffect(() => {
    if (width > 0) plot.current?.setSize({ width, height });
  }, [width, height]);

  const lastX = points > 0 ? data[0]![points - 1] : null;
  const lastY = points > 0 ? data.slice(1).map((ys) => ys[points - 1] ?? null) : [];
  return (
    <figure
      class="chart"
      data-testid={props.testId}
      data-points={points}
      data-last-x={lastX ?? ''}
      data-last-y={JSON.stringify(lastY)}
      aria-label={props.label}
    >
      <div ref={host} class="chart-plot" style={{ minHeight: `${height}px` }} />
      {points === 0 && <p class="chart-empty">{props.empty ?? 'No data yet.'}</p>}
    </figure>
  );
}

/**
 * Unless the pointer is over the chart, its legend shows the latest values. After uPlot's own (deferred) redraw,
 * which would reset the legend to the cursor's position.
 */
function showLatest(chart: uPlot): void {
  requestAnimationFrame(() => {
    const n = chart.data[0]?.length ?? 0;
    if (n > 0 && (chart.cursor.left ?? -1) < 0) chart.setLegend({ idx: n - 1 });
  });
}
