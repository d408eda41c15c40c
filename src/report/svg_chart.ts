/**
 * Small inline-SVG charts for the run report: line charts and horizontal grouped bar charts with
 * axis labels, "nice" ticks and a legend. Pure string building, no DOM and no external library, so
 * the report opens offline. Every text value is XML-escaped.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Categorical colours (distinguishable, also in grey-scale print by their lightness). */
export const PALETTE = ['#1f6fb4', '#e8750c', '#2a9d3c', '#c8313a', '#8a5cc2', '#8c564b', '#d45fb0', '#6b6b6b', '#a3a520', '#17a9bd'] as const;

/** Ticks at 1, 2, 2.5 or 5 times a power of ten covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) {
    // A flat series still gets an axis around its value.
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  if (min > max) [min, max] = [max, min];
  const raw = (max - min) / Math.max(1, count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const first = Math.floor(min / step + 1e-9) * step;
  const last = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; first + i * step <= last + step * 1e-6 && i < 100; i++) ticks.push(roundTo(first + i * step, step));
  return ticks;
}

function roundTo(value: number, step: number): number {
  // Removes float noise such as 0.30000000000000004 so labels stay short.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  return Number(value.toFixed(Math.min(20, decimals)));
}

/** Decimals needed to print multiples of `step` exactly (0.25 -> 2, 5 -> 0). */
function decimalsOf(step: number): number {
  for (let d = 0; d <= 10; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6) return d;
  }
  return 10;
}

/** A tick label: short, with as many decimals as the tick spacing needs. */
export function formatTick(value: number, step: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) return value.toExponential(1);
  if (abs >= 1e4) return `${(value / 1000).toFixed(decimalsOf(step / 1000))}k`;
  return value.toFixed(decimalsOf(step));
}

function fmtNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e6) return value.toExponential(2);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return abs >= 1 ? value.toFixed(2) : String(Number(value.toPrecision(3)));
}

/** Approximate text width at the chart font (11 px sans-serif): keeps legends from overlapping. */
function textWidth(text: string, fontSize = 11): number {
  return text.length * fontSize * 0.6;
}

function chartTitle(title: string): string {
  return `<text class="chart-title" x="8" y="17" font-size="13" font-weight="600" fill="#222">${escapeXml(title)}</text>`;
}

export interface LegendItem {
  name: string;
  color: string;
  dashed?: boolean;
  kind?: 'line' | 'box';
}

/** Legend rows starting at (x, y), wrapped to `width`; returns the SVG and the height used. */
function legend(items: readonly LegendItem[], x: number, y: number, width: number): { svg: string; height: number } {
  const parts: string[] = [];
  let cx = x;
  let cy = y;
  for (const item of items) {
    const w = 22 + textWidth(item.name) + 14;
    if (cx > x && cx + w > x + width) {
      cx = x;
      cy += 16;
    }
    const swatch =
      item.kind === 'box'
        ? `<rect x="${cx}" y="${cy - 8}" width="14" height="10" fill="${item.color}"/>`
        : `<line x1="${cx}" y1="${cy - 3}" x2="${cx + 16}" y2="${cy - 3}" stroke="${item.color}" stroke-width="2.5"${item.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    parts.push(`<g class="legend-item">${swatch}<text x="${cx + 20}" y="${cy}">${escapeXml(item.name)}</text></g>`);
    cx += w;
  }
  return { svg: `<g class="legend" font-size="11">${parts.join('')}</g>`, height: items.length === 0 ? 0 : cy - y + 16 };
}

export interface LineSeries {
  name: string;
  /** [x, y] points; a null or non-finite y breaks the line. */
  points: readonly (readonly [number, number | null])[];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  /** The SVG element's id (unique in the page). */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
  /** Fixed y range (e.g. [0, 100] for mIoU); default: the data range. */
  yDomain?: readonly [number, number];
  /** Include 0 in the y range (default false). */
  yZero?: boolean;
  /** Vertical dashed guides, e.g. where the warm-up ends. */
  markers?: readonly { x: number; label: string }[];
  /** Integer x ticks only (epochs, steps). */
  integerX?: boolean;
}

interface Scale {
  ticks: number[];
  lo: number;
  hi: number;
  map: (v: number) => number;
  step: number;
}

/**
 * A linear scale over [min, max] with nice ticks. By default the range widens to the outer ticks;
 * `tight` keeps it at the data (ticks outside are dropped), so an x axis ends at the last point.
 */
function linearScale(min: number, max: number, from: number, to: number, count: number, integer = false, tight = false): Scale {
  let ticks = niceTicks(min, max, count);
  if (integer) {
    ticks = ticks.filter((t) => Number.isInteger(t));
    if (ticks.length < 2) ticks = [Math.floor(min), Math.ceil(max) === Math.floor(min) ? Math.floor(min) + 1 : Math.ceil(max)];
  }
  if (tight && max > min) {
    const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
    const inside = ticks.filter((t) => t >= min - 1e-9 * step && t <= max + 1e-9 * step);
    ticks = inside.length >= 2 ? inside : [min, max];
    const span = max - min;
    return { ticks, lo: min, hi: max, step, map: (v: number) => from + ((v - min) / span) * (to - from) };
  }
  const lo = Math.min(ticks[0] ?? min, min);
  const hi = Math.max(ticks[ticks.length - 1] ?? max, max);
  const span = hi - lo || 1;
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  return { ticks, lo, hi, step, map: (v: number) => from + ((v - lo) / span) * (to - from) };
}

function finite(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * A line chart: `<svg id=... class="chart line-chart">` with axes (`g.axis.x-axis`, `g.axis.y-axis`),
 * their labels, grid lines, one `path.series` per series and a legend (`g.legend`). Series with few
 * points also get dots, so a single evaluation still shows.
 */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 440;
  const height = options.height ?? 270;
  const series = options.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const right = 14;
  const top = 26; // below the title row
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!finite(x)) continue;
      xs.push(x);
      if (finite(y)) ys.push(y);
    }
  }
  for (const m of options.markers ?? []) xs.push(m.x);
  const xMin = xs.length > 0 ? Math.min(...xs) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs) : 1;
  let yMin = ys.length > 0 ? Math.min(...ys) : 0;
  let yMax = ys.length > 0 ? Math.max(...ys) : 1;
  if (options.yZero) {
    yMin = Math.min(0, yMin);
    yMax = Math.max(0, yMax);
  }
  if (options.yDomain) [yMin, yMax] = [Math.min(options.yDomain[0], yMin), Math.max(options.yDomain[1], yMax)];
  const yCount = Math.max(3, Math.floor((height - 110) / 40));
  // The left margin fits the widest y tick label, so the rotated axis label never overlaps it.
  const probe = linearScale(yMin, yMax, 1, 0, yCount);
  const left = Math.max(48, Math.ceil(Math.max(...probe.ticks.map((t) => textWidth(formatTick(t, probe.step))))) + 32);
  const leg = legend(
    series.map((s) => ({ name: s.name, color: s.color, ...(s.dashed ? { dashed: true } : {}) })),
    left,
    top + 10,
    width - left - right,
  );
  const plotTop = top + leg.height + 8;
  const plotBottom = height - 44;
  // The x axis spans exactly the data (steps or epochs logged), not up to the next round tick.
  const xScale = linearScale(xMin, xMax, left, width - right, Math.max(3, Math.floor((width - left - right) / 70)), options.integerX, true);
  const yScale = linearScale(yMin, yMax, plotBottom, plotTop, yCount);
  const out: string[] = [];
  out.push(
    `<svg id="${escapeXml(options.id)}" class="chart line-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<title>${escapeXml(options.title)}</title>`,
    chartTitle(options.title),
  );
  // Grid and axes.
  const xAxis: string[] = [`<line x1="${left}" y1="${plotBottom}" x2="${width - right}" y2="${plotBottom}" stroke="#444"/>`];
  for (const t of xScale.ticks) {
    const x = xScale.map(t).toFixed(1);
    xAxis.push(`<line x1="${x}" y1="${plotBottom}" x2="${x}" y2="${plotBottom + 4}" stroke="#444"/><text x="${x}" y="${plotBottom + 16}" text-anchor="middle">${formatTick(t, xScale.step)}</text>`);
  }
  const yAxis: string[] = [`<line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotBottom}" stroke="#444"/>`];
  const grid: string[] = [];
  for (const t of yScale.ticks) {
    const y = yScale.map(t).toFixed(1);
    yAxis.push(`<line x1="${left - 4}" y1="${y}" x2="${left}" y2="${y}" stroke="#444"/><text x="${left - 7}" y="${y}" dy="0.35em" text-anchor="end">${formatTick(t, yScale.step)}</text>`);
    grid.push(`<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#e3e3e3"/>`);
  }
  out.push(`<g class="grid">${grid.join('')}</g>`);
  out.push(`<g class="axis x-axis" font-size="11" fill="#333">${xAxis.join('')}<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel)}</text></g>`);
  out.push(
    `<g class="axis y-axis" font-size="11" fill="#333">${yAxis.join('')}<text class="axis-label" transform="translate(14 ${(plotTop + plotBottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(options.yLabel)}</text></g>`,
  );
  for (const m of options.markers ?? []) {
    const x = xScale.map(m.x).toFixed(1);
    out.push(
      `<g class="marker"><line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotBottom}" stroke="#888" stroke-dasharray="3 3"/><text x="${Number(x) + 3}" y="${plotTop + 10}" font-size="10" fill="#666">${escapeXml(m.label)}</text></g>`,
    );
  }
  for (const s of series) {
    const segments: string[][] = [[]];
    const dots: string[] = [];
    const valid = s.points.filter(([x, y]) => finite(x) && finite(y)).length;
    for (const [x, y] of s.points) {
      if (!finite(x) || !finite(y)) {
        if (segments[segments.length - 1]!.length > 0) segments.push([]);
        continue;
      }
      const px = xScale.map(x).toFixed(1);
      const py = yScale.map(y).toFixed(1);
      segments[segments.length - 1]!.push(`${px},${py}`);
      if (valid <= 40) dots.push(`<circle cx="${px}" cy="${py}" r="2.8" fill="${s.color}"><title>${escapeXml(`${s.name}: ${fmtNumber(y)} at ${options.xLabel} ${fmtNumber(x)}`)}</title></circle>`);
    }
    const d = segments.filter((seg) => seg.length > 0).map((seg) => `M${seg.join('L')}`).join('');
    out.push(
      `<g class="series-group" data-series="${escapeXml(s.name)}"><path class="series" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>${dots.join('')}</g>`,
    );
  }
  out.push(leg.svg, '</svg>');
  return out.join('');
}

export interface BarSeries {
  name: string;
  /** One value per category; null is drawn as "n/a". */
  values: readonly (number | null)[];
  /** Optional half-width of an error whisker per category (e.g. a standard deviation), drawn as value +- error. */
  errors?: readonly (number | null)[];
  color?: string;
}

export interface BarChartOptions {
  id: string;
  title: string;
  /** Category names, one row each (e.g. the 19 class names). */
  categories: readonly string[];
  series: readonly BarSeries[];
  /** Label of the value axis. */
  valueLabel: string;
  /** Label of the category axis. */
  categoryLabel: string;
  width?: number;
  /** Fixed value range (e.g. [0, 100]); default [0, max]. */
  valueDomain?: readonly [number, number];
  /** Print each value at the end of its bar (default true). */
  valueLabels?: boolean;
  /** How values are printed at the bars and in tooltips (default: a few significant digits). */
  formatValue?: (value: number) => string;
}

/**
 * A horizontal grouped bar chart: `<svg id=... class="chart bar-chart">`, one row per category with
 * one `rect.bar` per series, the value axis at the bottom and a legend at the top.
 */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 560;
  const series = options.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const labelWidth = Math.max(...options.categories.map((c) => textWidth(c)), 30);
  const left = Math.ceil(labelWidth) + 34;
  const right = 44;
  const top = 26; // below the title row
  const leg = legend(series.map((s) => ({ name: s.name, color: s.color, kind: 'box' as const })), left, top + 10, width - left - right);
  const plotTop = top + leg.height + 6;
  const barHeight = series.length <= 2 ? 9 : Math.max(4, Math.floor(22 / series.length));
  const rowHeight = series.length * barHeight + 6;
  const plotBottom = plotTop + rowHeight * options.categories.length;
  const height = plotBottom + 44;
  const values = series.flatMap((s) => s.values.flatMap((v, i) => (finite(v) ? [v + Math.max(0, s.errors?.[i] ?? 0)] : [])));
  const domain = options.valueDomain ?? [0, Math.max(1, ...values)];
  const scale = linearScale(Math.min(domain[0], ...values), Math.max(domain[1], ...values), left, width - right, Math.max(3, Math.floor((width - left - right) / 70)));
  const showValues = options.valueLabels ?? true;
  const format = options.formatValue ?? fmtNumber;
  const out: string[] = [];
  out.push(
    `<svg id="${escapeXml(options.id)}" class="chart bar-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<title>${escapeXml(options.title)}</title>`,
    chartTitle(options.title),
  );
  const grid: string[] = [];
  const axis: string[] = [`<line x1="${left}" y1="${plotBottom}" x2="${width - right}" y2="${plotBottom}" stroke="#444"/>`];
  for (const t of scale.ticks) {
    const x = scale.map(t).toFixed(1);
    grid.push(`<line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotBottom}" stroke="#e3e3e3"/>`);
    axis.push(`<line x1="${x}" y1="${plotBottom}" x2="${x}" y2="${plotBottom + 4}" stroke="#444"/><text x="${x}" y="${plotBottom + 16}" text-anchor="middle">${formatTick(t, scale.step)}</text>`);
  }
  out.push(`<g class="grid">${grid.join('')}</g>`);
  out.push(`<g class="axis x-axis" font-size="11" fill="#333">${axis.join('')}<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeXml(options.valueLabel)}</text></g>`);
  const rows: string[] = [];
  const zero = scale.map(Math.max(scale.lo, 0));
  options.categories.forEach((category, row) => {
    const y0 = plotTop + row * rowHeight + 3;
    const bars: string[] = [];
    series.forEach((s, i) => {
      const v = s.values[row];
      const y = y0 + i * barHeight;
      if (!finite(v)) {
        bars.push(`<text x="${left + 4}" y="${y + barHeight - 1}" font-size="9" fill="#999">n/a</text>`);
        return;
      }
      const x = scale.map(v);
      const [x0, x1] = x >= zero ? [zero, x] : [x, zero];
      bars.push(
        `<rect class="bar" x="${x0.toFixed(1)}" y="${y}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="${barHeight - 1}" fill="${s.color}"><title>${escapeXml(`${category}, ${s.name}: ${format(v)}`)}</title></rect>`,
      );
      const e = s.errors?.[row];
      let labelX = x1 + 3;
      if (finite(e) && e > 0) {
        const [w0, w1] = [scale.map(v - e), scale.map(v + e)];
        const ym = (y + (barHeight - 1) / 2).toFixed(1);
        bars.push(`<line class="error-bar" x1="${w0.toFixed(1)}" y1="${ym}" x2="${w1.toFixed(1)}" y2="${ym}" stroke="#222" stroke-width="1"/>`);
        labelX = Math.max(labelX, w1 + 3);
      }
      if (showValues) bars.push(`<text x="${labelX.toFixed(1)}" y="${y + barHeight - 1.5}" font-size="9" fill="#444">${escapeXml(format(v))}</text>`);
    });
    rows.push(
      `<g class="bar-row"><text x="${left - 6}" y="${y0 + (series.length * barHeight) / 2}" dy="0.35em" text-anchor="end" font-size="11" fill="#333">${escapeXml(category)}</text>${bars.join('')}</g>`,
    );
  });
  out.push(`<g class="axis y-axis"><line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotBottom}" stroke="#444"/><text class="axis-label" transform="translate(14 ${(plotTop + plotBottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${escapeXml(options.categoryLabel)}</text></g>`);
  out.push(rows.join(''), leg.svg, '</svg>');
  return out.join('');
}

export interface ConfusionChartOptions {
  id: string;
  title: string;
  /** Class names, in the order of the matrix rows and columns. */
  classes: readonly string[];
  /** counts[groundTruth][prediction] (pixels). */
  confusion: readonly (readonly number[])[];
  /** Side of one cell in px (default 22). */
  cell?: number;
}

/**
 * A confusion-matrix heat map: `<svg id=... class="chart confusion-chart">`, one `rect.cell` per
 * (ground truth, prediction) pair shaded by the share of its row's pixels, the share printed in
 * cells of at least 1 %, class names down the left (ground truth, `g.axis.y-axis`) and, written
 * vertically, across the top (prediction, `g.axis.x-axis`), and a legend of the two shadings.
 * A row without ground-truth pixels is drawn grey.
 */
export function confusionChart(options: ConfusionChartOptions): string {
  const n = options.classes.length;
  const cell = options.cell ?? 22;
  const labelWidth = Math.ceil(Math.max(...options.classes.map((c) => textWidth(c, 10)), 30));
  const left = labelWidth + 34;
  const width = left + n * cell + 14;
  const leg = legend(
    [
      { name: 'correct (share of the class)', color: 'rgb(42,157,60)', kind: 'box' },
      { name: 'predicted as another class', color: 'rgb(31,111,180)', kind: 'box' },
    ],
    left,
    36,
    width - left - 14,
  );
  const axisLabelY = 36 + leg.height + 4;
  const top = axisLabelY + 8 + labelWidth + 4; // the vertical column labels end 4 px above the grid
  const height = top + n * cell + 14;
  const columns = options.classes.map((name, j) => {
    const x = (left + j * cell + cell / 2 + 3.5).toFixed(1);
    const y = (top - 4).toFixed(1);
    return `<text x="${x}" y="${y}" transform="rotate(-90 ${x} ${y})" font-size="10">${escapeXml(name)}</text>`;
  });
  const rows = options.classes.map((name, i) => `<text x="${left - 6}" y="${(top + i * cell + cell / 2).toFixed(1)}" dy="0.35em" text-anchor="end" font-size="10">${escapeXml(name)}</text>`);
  const out: string[] = [
    `<svg id="${escapeXml(options.id)}" class="chart confusion-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<title>${escapeXml(options.title)}</title>`,
    chartTitle(options.title),
    `<g class="axis x-axis" fill="#333">${columns.join('')}<text class="axis-label" x="${left + (n * cell) / 2}" y="${axisLabelY}" text-anchor="middle" font-size="12">prediction</text></g>`,
    `<g class="axis y-axis" fill="#333">${rows.join('')}<text class="axis-label" transform="translate(14 ${top + (n * cell) / 2}) rotate(-90)" text-anchor="middle" font-size="12">ground truth</text></g>`,
  ];
  for (let i = 0; i < n; i++) {
    const row = options.confusion[i] ?? [];
    const total = row.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const y = top + i * cell;
    for (let j = 0; j < n; j++) {
      const x = left + j * cell;
      const count = row[j] ?? 0;
      const share = total > 0 ? count / total : 0;
      // White -> dark blue with the share; the diagonal (correct pixels) in green.
      const [r, g, b] = i === j ? [42, 157, 60] : [31, 111, 180];
      const mix = (c: number): number => Math.round(255 - (255 - c) * Math.sqrt(share));
      const fill = total > 0 ? `rgb(${mix(r)},${mix(g)},${mix(b)})` : '#eeeeee';
      const tip = total > 0 ? `${options.classes[i]} predicted as ${options.classes[j]}: ${(100 * share).toFixed(1)}% of its pixels (${count})` : `${options.classes[i]}: no ground-truth pixels`;
      out.push(`<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff" stroke-width="1"><title>${escapeXml(tip)}</title></rect>`);
      if (total > 0 && share >= 0.01) {
        out.push(`<text x="${x + cell / 2}" y="${(y + cell / 2).toFixed(1)}" dy="0.35em" text-anchor="middle" font-size="8" fill="${share > 0.45 ? '#fff' : '#222'}">${Math.round(100 * share)}</text>`);
      }
    }
  }
  out.push(leg.svg, '</svg>');
  return out.join('');
}
