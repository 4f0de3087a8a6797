/** Where a line chart's points go: pure arithmetic (no DOM), unit-tested in Node. */

export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number; readonly label?: string }[];
}

export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

export interface Scale {
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
  readonly px: (x: number) => number;
  readonly py: (y: number) => number;
  readonly yTicks: number[];
}

/**
 * Maps data to pixels: x over its range (a single x sits in the middle), y over the data's range
 * widened to round ticks (a flat series gets ±0.5 around its value, so it is not drawn on an edge).
 */
export function scaleFor(series: readonly Series[], frame: Frame): Scale {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const xMin = xs.length === 0 ? 0 : Math.min(...xs);
  const xMax = xs.length === 0 ? 1 : Math.max(...xs);
  let lo = ys.length === 0 ? 0 : Math.min(...ys);
  let hi = ys.length === 0 ? 1 : Math.max(...ys);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = niceStep((hi - lo) / 4);
  const yMin = Math.floor(lo / step) * step;
  const yMax = Math.ceil(hi / step) * step;
  const yTicks: number[] = [];
  for (let t = yMin; t <= yMax + step / 2; t += step) yTicks.push(Number(t.toPrecision(12)));
  const plotWidth = frame.width - frame.left - frame.right;
  const plotHeight = frame.height - frame.top - frame.bottom;
  const px = (x: number) => frame.left + (xMax === xMin ? plotWidth / 2 : ((x - xMin) / (xMax - xMin)) * plotWidth);
  const py = (y: number) => frame.top + plotHeight - ((y - yMin) / (yMax - yMin)) * plotHeight;
  return { xMin, xMax, yMin, yMax, px, py, yTicks };
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factor = [1, 2, 5, 10].find((f) => f * power >= raw - 1e-12) ?? 10;
  return factor * power;
}

/** The numeric metrics of validation results: top-level numbers of an object, or "value" for a bare number. */
export function metricsOf(results: unknown): Record<string, number> {
  if (typeof results === 'number' && Number.isFinite(results)) return { value: results };
  if (typeof results !== 'object' || results === null || Array.isArray(results)) return {};
  return Object.fromEntries(
    Object.entries(results).filter((entry): entry is [string, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1])),
  );
}

/** The next version after `current`: `1.2.0` → `1.3.0`; anything else → ''. */
export function suggestNextVersion(current: string | undefined): string {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(current ?? '');
  return match === null ? '' : `${match[1]}.${Number(match[2]) + 1}.0`;
}
