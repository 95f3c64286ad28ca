/** Small statistics for benchmark samples. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Runs `fn` `runs` times, alternating with `baseline` so both see the same machine noise. */
export async function paired(
  runs: number,
  fn: () => Promise<number>,
  baseline: () => Promise<number>,
): Promise<{ values: number[]; baselines: number[] }> {
  const values: number[] = [];
  const baselines: number[] = [];
  for (let i = 0; i < runs; i++) {
    baselines.push(await baseline());
    values.push(await fn());
  }
  return { values, baselines };
}

/** Absolute time in ms, comparable across threads of one process (unlike performance.now()). */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}
