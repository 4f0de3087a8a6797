import { scaleFor, type Series } from './chart-geometry';
import { h, s } from './dom';

const COLORS = ['#111827', '#0a58ca', '#d63384', '#198754', '#fd7e14', '#6f42c1', '#20c997', '#b42318', '#6c757d', '#0dcaf0'];
const FRAME = { width: 720, height: 300, left: 56, right: 16, top: 16, bottom: 40 };

/**
 * A line chart as SVG, drawn by hand: one polyline per series and a circle per point. Each circle
 * carries its data (`data-series`, `data-x`, `data-y`, `data-label`), so the values can be read
 * back from the page. Colors are presentation attributes, not `style` (the CSP allows no inline styles).
 */
export function lineChart(series: readonly Series[], options: { xLabel: string; yLabel: string; title: string }): HTMLElement {
  const scale = scaleFor(series, FRAME);
  const svg = s('svg', {
    viewBox: `0 0 ${FRAME.width} ${FRAME.height}`,
    width: FRAME.width,
    height: FRAME.height,
    role: 'img',
    'aria-label': options.title,
  });
  for (const tick of scale.yTicks) {
    const y = scale.py(tick);
    svg.append(
      s('line', { class: 'grid', x1: FRAME.left, x2: FRAME.width - FRAME.right, y1: y, y2: y }),
      s('text', { x: FRAME.left - 6, y: y + 4, 'text-anchor': 'end' }, formatTick(tick)),
    );
  }
  const xs = [...new Set(series.flatMap((one) => one.points.map((p) => p.x)))].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(xs.length / 20));
  xs.forEach((x, i) => {
    if (i % every === 0) svg.append(s('text', { x: scale.px(x), y: FRAME.height - FRAME.bottom + 16, 'text-anchor': 'middle' }, x));
  });
  const bottom = FRAME.height - FRAME.bottom;
  svg.append(
    s('line', { class: 'axis', x1: FRAME.left, x2: FRAME.width - FRAME.right, y1: bottom, y2: bottom }),
    s('line', { class: 'axis', x1: FRAME.left, x2: FRAME.left, y1: FRAME.top, y2: bottom }),
    s('text', { x: (FRAME.left + FRAME.width - FRAME.right) / 2, y: FRAME.height - 6, 'text-anchor': 'middle' }, options.xLabel),
    s('text', { x: 12, y: FRAME.top + (bottom - FRAME.top) / 2, transform: `rotate(-90 12 ${FRAME.top + (bottom - FRAME.top) / 2})`, 'text-anchor': 'middle' }, options.yLabel),
  );
  const legend = h('ul', { class: 'legend' });
  series.forEach((one, index) => {
    const color = COLORS[index % COLORS.length]!;
    const points = [...one.points].sort((a, b) => a.x - b.x);
    const group = s('g', { 'data-series': one.name });
    if (points.length > 1) {
      group.append(
        s('polyline', {
          fill: 'none',
          stroke: color,
          'stroke-width': index === 0 ? 2.5 : 1.5,
          points: points.map((p) => `${scale.px(p.x).toFixed(1)},${scale.py(p.y).toFixed(1)}`).join(' '),
        }),
      );
    }
    for (const p of points) {
      group.append(
        s(
          'circle',
          { cx: scale.px(p.x).toFixed(1), cy: scale.py(p.y).toFixed(1), r: 3.5, fill: color, 'data-series': one.name, 'data-x': p.x, 'data-y': p.y, 'data-label': p.label },
          s('title', {}, `${one.name}, ${options.xLabel} ${p.x}: ${p.y}`),
        ),
      );
    }
    svg.append(group);
    legend.append(h('li', {}, s('svg', { width: 14, height: 10 }, s('rect', { width: 14, height: 10, fill: color })), one.name));
  });
  return h('figure', { class: 'chart' }, svg, legend);
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 0.01) ? value.toExponential(1) : String(Number(value.toPrecision(6)));
}
