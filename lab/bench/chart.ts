/**
 * The benchmark's chart, as a standalone SVG docs/performance.md embeds: CPU per delivery of the
 * replicas, the front and Redis per setup on the left, memory per idle connection on the right
 * (medians of the run's windows; the JSON has the spread). Plain SVG, no chart library.
 */

interface ChartInput {
  date: string;
  commit: string;
  results: {
    setup: string;
    idle: { perConnection: { replicaHeap: number; replicaRss: number; front: number } }[];
    fanout: { spread: Record<string, { median: number }> };
  }[];
}

/** Bars drawn side by side above one label. */
interface BarGroup {
  label: string;
  bars: { value: number; color: string }[];
}

const WIDTH = 1400;
/** Where the right-hand panel starts. */
const PANEL_GAP = 720;
const HEIGHT = 400;
const PANEL_TOP = 70;
const PANEL_HEIGHT = 230;
const CPU_SERIES = [
  { figure: 'replica CPU µs/delivery', label: 'replicas', color: '#1e3a8a' },
  { figure: 'front CPU µs/delivery', label: 'front', color: '#3b82f6' },
  { figure: 'Redis CPU µs/delivery', label: 'Redis', color: '#dc2626' },
] as const;
const MEMORY_SERIES = [
  { key: 'replicaHeap', label: 'replica heap', color: '#7c3aed' },
  { key: 'replicaRss', label: 'replica RSS', color: '#c4b5fd' },
  { key: 'front', label: 'front RSS', color: '#3b82f6' },
] as const;

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
      // Slanted: ten setup names side by side would overlap.
      const labelX = (groupX + slot * 0.4).toFixed(1);
      const labelY = PANEL_TOP + PANEL_HEIGHT + 14;
      const labelText = `<text x="${labelX}" y="${labelY}" font-size="10" text-anchor="end" transform="rotate(-30 ${labelX} ${labelY})">${escapeXml(label)}</text>`;
      return [...rects, labelText].join('');
    })
    .join('\n');
}

function legend(series: readonly { label: string; color: string }[], x0: number): string {
  return series
    .map(
      ({ label, color }, n) =>
        `<rect x="${x0 + n * 95}" y="50" width="10" height="10" fill="${color}"/><text x="${x0 + 14 + n * 95}" y="59" font-size="11">${escapeXml(label)}</text>`,
    )
    .join('');
}

export function renderChart(input: ChartInput): string {
  const cpuGroups: BarGroup[] = input.results.map(({ setup, fanout }) => ({
    label: setup,
    bars: CPU_SERIES.map(({ figure, color }) => ({ value: fanout.spread[figure]?.median ?? NaN, color })),
  }));
  const memoryGroups: BarGroup[] = input.results.map(({ setup, idle }) => ({
    label: setup,
    bars: MEMORY_SERIES.map(({ key, color }) => ({ value: (idle.at(-1)?.perConnection[key] ?? NaN) / 1024, color })),
  }));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="24" font-size="15" font-weight="bold">npm run bench — ${escapeXml(input.date.slice(0, 10))}, commit ${escapeXml(input.commit)}</text>
<text x="20" y="42" font-size="12">CPU per delivery, µs (median of the windows)</text>
${legend(CPU_SERIES, 20)}
<text x="${PANEL_GAP}" y="42" font-size="12">Memory per idle connection, KB (largest step)</text>
${legend(MEMORY_SERIES, PANEL_GAP)}
${barGroups(cpuGroups, 20, PANEL_GAP - 40)}
${barGroups(memoryGroups, PANEL_GAP, WIDTH - PANEL_GAP - 20)}
</svg>
`;
}
