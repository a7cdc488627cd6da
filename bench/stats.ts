// The figures of repeated measurements, for every benchmark: a failed run's NaN is left out.

// The median (for an even count, the lower of the two middle values); NaN if nothing was measured.
export function median(xs: number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
}

// The q-quantile, interpolated between neighbours; NaN if nothing was measured.
export function quantile(xs: number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const at = (s.length - 1) * q,
    lo = Math.floor(at),
    hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

// The interquartile range: how far the middle half of the runs spread.
export const iqr = (xs: number[]): number => quantile(xs, 0.75) - quantile(xs, 0.25);
