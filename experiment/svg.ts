/**
 * Small inline-SVG charts for the report: a time chart (bars, lines, steps,
 * shaded bands) and an x/y chart. No dependencies, no script: the report must
 * open from a file anywhere.
 */

export interface Series {
  label: string;
  color: string;
  kind: 'bars' | 'line' | 'step' | 'area';
  /** one value per x position (index = second); null leaves a gap */
  values: readonly (number | null)[];
  /** bars only: stacked on the previous bar series */
  stacked?: boolean;
  dashed?: boolean;
}

export interface Band {
  from: number;
  to: number;
  label: string;
  color: string;
}

interface TimeChart {
  title: string;
  yLabel: string;
  /** x runs from 0 to xMax (seconds) */
  xMax: number;
  series: readonly Series[];
  bands?: readonly Band[];
  /** vertical markers, e.g. the end of the load */
  markers?: readonly { at: number; label: string }[];
  /** a text at a point of the plot, e.g. "lost 125" at the end of the counter line */
  notes?: readonly { at: number; value: number; label: string; color: string }[];
  width?: number;
  height?: number;
  /** y axis floor for the max, so an all-zero series still has an axis */
  minYMax?: number;
  /** whole-number y ticks (pods) */
  integer?: boolean;
}

const PAD = { left: 56, right: 16, top: 36, bottom: 30 };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Ticks at 1, 2 or 5 times a power of ten, about `count` of them, covering [0, max]. */
export function niceTicks(max: number, count = 5, integer = false): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = integer ? Math.max(1, max / count) : max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let v = 0; v < max + step - 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

export function timeChart(c: TimeChart): string {
  const width = c.width ?? 1040;
  const height = c.height ?? 210;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;

  // y range: stacked bars add up
  let yMax = c.minYMax ?? 1;
  const stackBase: number[] = [];
  for (const s of c.series) {
    s.values.forEach((v, i) => {
      const base = s.kind === 'bars' && s.stacked ? (stackBase[i] ?? 0) : 0;
      yMax = Math.max(yMax, base + (v ?? 0));
      if (s.kind === 'bars') stackBase[i] = base + (v ?? 0);
    });
  }
  const yTicks = niceTicks(yMax, 5, c.integer);
  const yTop = yTicks[yTicks.length - 1] as number;
  const xMax = Math.max(1, c.xMax);
  const xTicks = niceTicks(xMax, 10).filter((t) => t <= xMax);
  const x = (t: number) => PAD.left + (t / xMax) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / yTop) * plotH;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(c.title)}">`,
  );
  parts.push(`<text x="${PAD.left}" y="18" class="title">${escapeXml(c.title)}</text>`);
  // labels go on top of everything, in the strip above the plot
  const labels: string[] = [];
  for (const b of c.bands ?? []) {
    const x0 = x(Math.max(0, b.from));
    const x1 = x(Math.min(xMax, b.to));
    parts.push(
      `<rect x="${f(x0)}" y="${PAD.top}" width="${f(Math.max(1, x1 - x0))}" height="${plotH}" fill="${b.color}" opacity="0.16"><title>${escapeXml(b.label)}</title></rect>`,
    );
    labels.push(`<text x="${f(x0 + 2)}" y="${PAD.top - 3}" class="band">${escapeXml(b.label)}</text>`);
  }
  for (const t of yTicks) {
    parts.push(
      `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${f(y(t))}" y2="${f(y(t))}" class="grid"/>`,
      `<text x="${PAD.left - 6}" y="${f(y(t) + 4)}" class="ytick">${fmt(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(`<text x="${f(x(t))}" y="${height - PAD.bottom + 16}" class="xtick">${fmt(t)}s</text>`);
  }
  parts.push(
    `<text x="14" y="${PAD.top + plotH / 2}" class="ylabel" transform="rotate(-90 14 ${PAD.top + plotH / 2})">${escapeXml(c.yLabel)}</text>`,
  );

  const barW = plotW / xMax;
  const base: number[] = [];
  for (const s of c.series) {
    if (s.kind === 'bars') {
      s.values.forEach((v, i) => {
        if (v === null || v === 0) return;
        const b0 = s.stacked ? (base[i] ?? 0) : 0;
        parts.push(
          `<rect x="${f(x(i) + barW * 0.1)}" y="${f(y(b0 + v))}" width="${f(barW * 0.8)}" height="${f(y(b0) - y(b0 + v))}" fill="${s.color}"><title>${i}s: ${escapeXml(s.label)} ${fmt(v)}</title></rect>`,
        );
        base[i] = b0 + v;
      });
      continue;
    }
    const d = pathOf(s, x, y, barW);
    if (d !== '' && s.kind === 'area') {
      // a filled step shape down to zero, under the lines drawn after it
      for (const run of d.split(/(?=M)/)) {
        const xs = [...run.matchAll(/[ML](-?[\d.]+) /g)].map((m) => m[1]);
        parts.push(
          `<path d="${run} L${xs.at(-1)} ${f(y(0))} L${xs[0]} ${f(y(0))} Z" fill="${s.color}" fill-opacity="0.35" stroke="${s.color}" stroke-width="1"/>`,
        );
      }
    } else if (d !== '') {
      parts.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    }
  }
  for (const m of c.markers ?? []) {
    parts.push(
      `<line x1="${f(x(m.at))}" x2="${f(x(m.at))}" y1="${PAD.top}" y2="${PAD.top + plotH}" class="marker"/>`,
    );
    labels.push(
      `<text x="${f(x(m.at) + 3)}" y="${PAD.top - 3}" class="markerlabel start">${escapeXml(m.label)}</text>`,
    );
  }
  for (const n of c.notes ?? []) {
    labels.push(
      `<text x="${f(x(n.at) - 4)}" y="${f(y(n.value) + 16)}" class="note" fill="${n.color}">${escapeXml(n.label)}</text>`,
    );
  }
  parts.push(...labels);
  parts.push(
    `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" class="axis"/>`,
  );
  parts.push(legend(c.series, width - PAD.right, 18));
  parts.push('</svg>');
  return parts.join('\n');
}

/** Lines join the middle of each second; steps hold a value for the whole second. */
function pathOf(s: Series, x: (t: number) => number, y: (v: number) => number, barW: number): string {
  const d: string[] = [];
  let pen = false;
  s.values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    if (s.kind === 'line') {
      d.push(`${pen ? 'L' : 'M'}${f(x(i) + barW / 2)} ${f(y(v))}`);
    } else {
      d.push(`${pen ? 'L' : 'M'}${f(x(i))} ${f(y(v))}`, `L${f(x(i + 1))} ${f(y(v))}`);
    }
    pen = true;
  });
  return d.join(' ');
}

function legend(series: readonly Series[], right: number, top: number): string {
  const items: string[] = [];
  let cursor = right;
  for (const s of [...series].reverse()) {
    const w = 26 + s.label.length * 6.6;
    cursor -= w;
    const swatch =
      s.kind === 'bars' || s.kind === 'area'
        ? `<rect x="${f(cursor)}" y="${top - 9}" width="12" height="10" fill="${s.color}"/>`
        : `<line x1="${f(cursor)}" x2="${f(cursor + 14)}" y1="${top - 4}" y2="${top - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
    items.push(`${swatch}<text x="${f(cursor + 18)}" y="${top}" class="legend">${escapeXml(s.label)}</text>`);
  }
  return items.join('');
}

interface XYSeries {
  label: string;
  color: string;
  points: readonly { x: number; y: number }[];
}

interface XYChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly XYSeries[];
  /** a vertical line, e.g. the highest lossless rate */
  marker?: { at: number; label: string };
  width?: number;
  height?: number;
}

export function xyChart(c: XYChart): string {
  const width = c.width ?? 1040;
  const height = c.height ?? 280;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom - 10;
  const all = c.series.flatMap((s) => s.points);
  const xTicks = niceTicks(Math.max(1, ...all.map((p) => p.x)), 8);
  const yTicks = niceTicks(Math.max(1, ...all.map((p) => p.y)));
  const xTop = xTicks[xTicks.length - 1] as number;
  const yTop = yTicks[yTicks.length - 1] as number;
  const x = (v: number) => PAD.left + (v / xTop) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / yTop) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(c.title)}">`,
    `<text x="${PAD.left}" y="18" class="title">${escapeXml(c.title)}</text>`,
  ];
  for (const t of yTicks) {
    parts.push(
      `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${f(y(t))}" y2="${f(y(t))}" class="grid"/>`,
      `<text x="${PAD.left - 6}" y="${f(y(t) + 4)}" class="ytick">${fmt(t)}</text>`,
    );
  }
  for (const t of xTicks)
    parts.push(`<text x="${f(x(t))}" y="${PAD.top + plotH + 16}" class="xtick">${fmt(t)}</text>`);
  parts.push(
    `<text x="${PAD.left + plotW / 2}" y="${height - 6}" class="xlabel">${escapeXml(c.xLabel)}</text>`,
    `<text x="14" y="${PAD.top + plotH / 2}" class="ylabel" transform="rotate(-90 14 ${PAD.top + plotH / 2})">${escapeXml(c.yLabel)}</text>`,
  );
  if (c.marker) {
    parts.push(
      `<line x1="${f(x(c.marker.at))}" x2="${f(x(c.marker.at))}" y1="${PAD.top}" y2="${PAD.top + plotH}" class="marker"/>`,
      // near the right edge the label goes to the left of its line
      x(c.marker.at) > PAD.left + plotW * 0.75
        ? `<text x="${f(x(c.marker.at) - 4)}" y="${PAD.top + 12}" class="markerlabel">${escapeXml(c.marker.label)}</text>`
        : `<text x="${f(x(c.marker.at) + 4)}" y="${PAD.top + 12}" class="markerlabel start">${escapeXml(c.marker.label)}</text>`,
    );
  }
  for (const s of c.series) {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      parts.push(
        `<path d="${pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(x(p.x))} ${f(y(p.y))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`,
      );
    }
    for (const p of pts) {
      parts.push(
        `<circle cx="${f(x(p.x))}" cy="${f(y(p.y))}" r="4" fill="${s.color}"><title>${fmt(p.x)}/s: ${escapeXml(s.label)} ${fmt(p.y)}</title></circle>`,
      );
    }
  }
  parts.push(
    `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" class="axis"/>`,
  );
  parts.push(
    legend(
      c.series.map((s) => ({ label: s.label, color: s.color, kind: 'line' as const, values: [] })),
      width - PAD.right,
      18,
    ),
  );
  parts.push('</svg>');
  return parts.join('\n');
}

function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
