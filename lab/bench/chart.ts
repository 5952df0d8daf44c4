/**
 * The benchmark's chart, as a standalone SVG docs/performance.md embeds: fan-out latency percentiles per
 * setup on the left, the delivery ceiling per setup on the right. Plain SVG, no chart library.
 */

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

interface ChartInput {
  date: string;
  commit: string;
  results: {
    setup: string;
    fanout: { sameReplica: Percentiles; crossReplica: Percentiles | null };
    ceiling: { deliveriesPerSecond: number | null };
  }[];
}

/** Bars drawn side by side under one label. */
interface BarGroup {
  label: string;
  bars: { value: number; color: string }[];
}

const WIDTH = 980;
const HEIGHT = 380;
const PANEL_TOP = 70;
const PANEL_HEIGHT = 230;
const PERCENTILE_COLORS = { p50: '#93c5fd', p90: '#3b82f6', p99: '#1e3a8a' };
const CEILING_COLOR = '#7c3aed';

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const formatValue = (value: number) => (Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 1) : '–');

function barGroups(groups: BarGroup[], x0: number, width: number): string {
  const max = Math.max(...groups.flatMap((group) => group.bars.map((bar) => (Number.isFinite(bar.value) ? bar.value : 0))));
  const slot = width / groups.length;
  return groups
    .map(({ label, bars }, index) => {
      const groupX = x0 + index * slot + slot * 0.1;
      const barWidth = (slot * 0.8) / bars.length;
      const rects = bars.map(({ value, color }, n) => {
        const height = max > 0 && Number.isFinite(value) ? (value / max) * PANEL_HEIGHT : 0;
        const x = groupX + n * barWidth;
        const y = PANEL_TOP + PANEL_HEIGHT - height;
        return (
          `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth * 0.9).toFixed(1)}" height="${height.toFixed(1)}" fill="${color}"/>` +
          `<text x="${(x + barWidth * 0.45).toFixed(1)}" y="${(y - 4).toFixed(1)}" font-size="9" text-anchor="middle">${formatValue(value)}</text>`
        );
      });
      const labelLines = label
        .split('\n')
        .map(
          (line, n) =>
            `<text x="${(groupX + slot * 0.4).toFixed(1)}" y="${PANEL_TOP + PANEL_HEIGHT + 14 + n * 12}" font-size="10" text-anchor="middle">${escapeXml(line)}</text>`,
        );
      return [...rects, ...labelLines].join('');
    })
    .join('\n');
}

export function renderChart(input: ChartInput): string {
  const latencyGroups: BarGroup[] = input.results.flatMap(({ setup, fanout }) => {
    const series = [{ label: fanout.crossReplica ? `${setup}\nsame replica` : setup, values: fanout.sameReplica }];
    if (fanout.crossReplica) series.push({ label: `${setup}\ncross-replica`, values: fanout.crossReplica });
    return series.map(({ label, values }) => ({
      label,
      bars: (['p50', 'p90', 'p99'] as const).map((p) => ({ value: values[p], color: PERCENTILE_COLORS[p] })),
    }));
  });
  const ceilingGroups: BarGroup[] = input.results.map(({ setup, ceiling }) => ({
    label: setup,
    bars: [{ value: ceiling.deliveriesPerSecond ?? 0, color: CEILING_COLOR }],
  }));
  const legend = (['p50', 'p90', 'p99'] as const)
    .map(
      (p, n) =>
        `<rect x="${20 + n * 60}" y="50" width="10" height="10" fill="${PERCENTILE_COLORS[p]}"/><text x="${34 + n * 60}" y="59" font-size="11">${p}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="24" font-size="15" font-weight="bold">npm run bench — ${escapeXml(input.date.slice(0, 10))}, commit ${escapeXml(input.commit)}</text>
<text x="20" y="42" font-size="12">Fan-out latency, ms (emit to receipt)</text>
${legend}
<text x="660" y="42" font-size="12">Ceiling: deliveries/s at p99 ≤ 250 ms, no loss</text>
${barGroups(latencyGroups, 20, 620)}
${barGroups(ceilingGroups, 660, 300)}
</svg>
`;
}
