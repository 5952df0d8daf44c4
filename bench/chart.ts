/**
 * The benchmark's chart, as a standalone SVG the README embeds: fan-out latency percentiles per
 * setup on the left, the delivery ceiling per setup on the right. Plain SVG, no chart library.
 */

interface ChartInput {
  date: string;
  commit: string;
  results: {
    setup: string;
    fanout: { sameReplica: { p50: number; p90: number; p99: number }; crossReplica: { p50: number; p90: number; p99: number } | null };
    ceiling: { deliveriesPerSecond: number | null };
  }[];
}

const WIDTH = 900;
const HEIGHT = 360;
const PANEL_TOP = 60;
const PANEL_HEIGHT = 230;
const COLORS = { p50: '#93c5fd', p90: '#3b82f6', p99: '#1e3a8a', ceiling: '#7c3aed' };

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

function bars(values: { label: string; value: number; color: string }[], x0: number, width: number, max: number, unit: string): string {
  const slot = width / values.length;
  return values
    .map(({ label, value, color }, index) => {
      const height = max > 0 && Number.isFinite(value) ? (value / max) * PANEL_HEIGHT : 0;
      const x = x0 + index * slot + slot * 0.15;
      const y = PANEL_TOP + PANEL_HEIGHT - height;
      return [
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${height.toFixed(1)}" fill="${color}"/>`,
        `<text x="${(x + slot * 0.35).toFixed(1)}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="middle">${Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 1) : '–'}${unit}</text>`,
        `<text x="${(x + slot * 0.35).toFixed(1)}" y="${PANEL_TOP + PANEL_HEIGHT + 14}" font-size="9" text-anchor="middle">${escapeXml(label)}</text>`,
      ].join('');
    })
    .join('\n');
}

export function renderChart(input: ChartInput): string {
  const latencyBars = input.results.flatMap(({ setup, fanout }) => {
    const series = [{ name: setup === 'cluster' ? `${setup} same` : setup, values: fanout.sameReplica }];
    if (fanout.crossReplica) series.push({ name: `${setup} cross`, values: fanout.crossReplica });
    return series.flatMap(({ name, values }) => (['p50', 'p90', 'p99'] as const).map((p) => ({ label: `${name} ${p}`, value: values[p], color: COLORS[p] })));
  });
  const ceilingBars = input.results.map(({ setup, ceiling }) => ({ label: setup, value: ceiling.deliveriesPerSecond ?? 0, color: COLORS.ceiling }));
  const maxLatency = Math.max(...latencyBars.map((bar) => (Number.isFinite(bar.value) ? bar.value : 0)));
  const maxCeiling = Math.max(...ceilingBars.map((bar) => bar.value));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="24" font-size="15" font-weight="bold">npm run bench — ${escapeXml(input.date.slice(0, 10))}, commit ${escapeXml(input.commit)}</text>
<text x="20" y="46" font-size="12">Fan-out latency, ms (emit to receipt; p50, p90, p99)</text>
<text x="620" y="46" font-size="12">Ceiling: deliveries/s at p99 ≤ 250 ms, no loss</text>
${bars(latencyBars, 20, 560, maxLatency, '')}
${bars(ceilingBars, 620, 260, maxCeiling, '')}
</svg>
`;
}
