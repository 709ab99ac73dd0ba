// Inline SVG charts, written out as strings: no library, no script, nothing fetched, so the page they go
// in opens anywhere, offline, and is small enough to commit.

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
  /** Draw as steps (a level held until the next sample) rather than straight segments. */
  readonly steps?: boolean;
}

export interface Axis {
  readonly label: string;
  /** Where to put ticks, and how to write them. */
  readonly ticks?: readonly number[];
  readonly format?: (value: number) => string;
  readonly log?: boolean;
}

const WIDTH = 760;
const HEIGHT = 300;
const MARGIN = { top: 16, right: 20, bottom: 58, left: 64 };

export const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fixed = (value: number) => +value.toFixed(1);

/** Round tick positions covering [0, max]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw) ?? raw;
  const ticks: number[] = [];
  for (let tick = 0; tick < max + step * 0.999; tick += step) ticks.push(+tick.toFixed(10));
  return ticks;
}

function legend(
  series: readonly { name: string; color: string; dashed?: boolean | undefined }[],
  y: number,
): string {
  let x = MARGIN.left;
  return series
    .map((entry) => {
      const item =
        `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${entry.color}" stroke-width="3"` +
        `${entry.dashed ? ' stroke-dasharray="5 3"' : ''}/>` +
        `<text x="${x + 24}" y="${y + 4}">${escapeXml(entry.name)}</text>`;
      x += 34 + entry.name.length * 6.6;
      return item;
    })
    .join('');
}

function frame(title: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(title)}" ` +
    `font-family="system-ui, sans-serif" font-size="11">${body}</svg>`
  );
}

export function lineChart(title: string, series: readonly Series[], x: Axis, y: Axis): string {
  const all = series.flatMap((entry) => entry.points);
  const xs = all.map(([value]) => value);
  const transform = (value: number) => (x.log ? Math.log10(value) : value);
  const xMin = transform(Math.min(...xs));
  const xMax = transform(Math.max(...xs));
  const yTicks = y.ticks ?? niceTicks(Math.max(1, ...all.map(([, value]) => value)));
  const yMax = Math.max(...yTicks);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (value: number) =>
    fixed(MARGIN.left + ((transform(value) - xMin) / Math.max(1e-9, xMax - xMin)) * plotWidth);
  const py = (value: number) => fixed(MARGIN.top + plotHeight - (value / yMax) * plotHeight);
  const formatX = x.format ?? String;
  const formatY = y.format ?? String;
  const grid = yTicks
    .map(
      (tick) =>
        `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py(tick)}" y2="${py(tick)}" stroke="#e3e3e3"/>` +
        `<text x="${MARGIN.left - 6}" y="${py(tick) + 4}" text-anchor="end">${escapeXml(formatY(tick))}</text>`,
    )
    .join('');
  const xTicks = x.ticks ?? niceTicks(xMax).filter((tick) => tick >= xMin);
  const xAxis = xTicks
    .map(
      (tick) =>
        `<line x1="${px(tick)}" x2="${px(tick)}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight + 4}" stroke="#888"/>` +
        `<text x="${px(tick)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${escapeXml(formatX(tick))}</text>`,
    )
    .join('');
  const paths = series
    .map((entry) => {
      const commands: string[] = [];
      entry.points.forEach(([vx, vy], index) => {
        if (index === 0) commands.push(`M${px(vx)} ${py(vy)}`);
        else if (entry.steps) commands.push(`H${px(vx)} V${py(vy)}`);
        else commands.push(`L${px(vx)} ${py(vy)}`);
      });
      const dots =
        entry.points.length <= 12
          ? entry.points
              .map(([vx, vy]) => `<circle cx="${px(vx)}" cy="${py(vy)}" r="3.5" fill="${entry.color}"/>`)
              .join('')
          : '';
      return (
        `<path d="${commands.join(' ')}" fill="none" stroke="${entry.color}" stroke-width="2.2"` +
        `${entry.dashed ? ' stroke-dasharray="6 4"' : ''}><title>${escapeXml(entry.name)}</title></path>${dots}`
      );
    })
    .join('');
  const axes =
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#888"/>` +
    `<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight + 32}" text-anchor="middle">${escapeXml(x.label)}</text>` +
    `<text transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(y.label)}</text>`;
  return frame(title, grid + xAxis + axes + paths + legend(series, HEIGHT - 10));
}

export interface BarGroup {
  readonly label: string;
  readonly values: readonly number[];
}

/** Grouped bars: one group per metric, one bar per series, each bar labelled with its value. */
export function barChart(
  title: string,
  groups: readonly BarGroup[],
  series: readonly { name: string; color: string }[],
  yLabel: string,
): string {
  const yTicks = niceTicks(Math.max(1, ...groups.flatMap((group) => group.values)));
  const yMax = Math.max(...yTicks);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const py = (value: number) => fixed(MARGIN.top + plotHeight - (value / yMax) * plotHeight);
  const groupWidth = plotWidth / groups.length;
  const barWidth = Math.min(48, (groupWidth * 0.7) / series.length);
  const grid = yTicks
    .map(
      (tick) =>
        `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py(tick)}" y2="${py(tick)}" stroke="#e3e3e3"/>` +
        `<text x="${MARGIN.left - 6}" y="${py(tick) + 4}" text-anchor="end">${tick}</text>`,
    )
    .join('');
  const bars = groups
    .map((group, g) => {
      const left = MARGIN.left + g * groupWidth + (groupWidth - barWidth * series.length) / 2;
      const rects = group.values
        .map((value, i) => {
          const x = fixed(left + i * barWidth);
          const color = series[i]?.color ?? '#999';
          return (
            `<rect x="${x}" y="${py(value)}" width="${fixed(barWidth - 4)}" height="${fixed(MARGIN.top + plotHeight - py(value))}" fill="${color}">` +
            `<title>${escapeXml(`${series[i]?.name ?? ''}: ${value}`)}</title></rect>` +
            `<text x="${fixed(x + (barWidth - 4) / 2)}" y="${py(value) - 4}" text-anchor="middle">${value}</text>`
          );
        })
        .join('');
      return (
        rects +
        `<text x="${fixed(MARGIN.left + g * groupWidth + groupWidth / 2)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${escapeXml(group.label)}</text>`
      );
    })
    .join('');
  const axes =
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#888"/>` +
    `<text transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`;
  return frame(title, grid + axes + bars + legend(series, HEIGHT - 10));
}
