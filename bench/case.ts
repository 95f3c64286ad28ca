import { median, round } from './stats.js';

/** One benchmark case's result, as written to bench/results.json. */
export interface CaseResult {
  value: number;
  unit: string;
  /** The baseline measured in the same run, in the same unit (for ratios: the bare rate). */
  baseline: number | null;
  /** value / baseline (or, for *_ratio cases, the ratio itself). */
  ratio: number | null;
  /** What the project promises, for the table. */
  target: string;
  /** Whether the value meets the target on this run. */
  meetsTarget: boolean;
  samples?: number[];
  baselineSamples?: number[];
  notes?: string;
  [extra: string]: unknown;
}

export type Cases = Record<string, CaseResult>;

/** A throughput comparison as a case: the median rates, their ratio as the value. */
export function ratioCase(
  core: readonly number[],
  raw: readonly number[],
  notes: string,
  extra: Record<string, unknown> = {},
): CaseResult {
  const c = median(core);
  const r = median(raw);
  const ratio = round(c / r, 3);
  return {
    value: ratio,
    unit: 'ratio',
    baseline: 1,
    ratio,
    target: '>= 0.9',
    meetsTarget: ratio >= 0.9,
    coreRate: round(c, 0),
    rawRate: round(r, 0),
    rateUnit: 'msg/s',
    ...extra,
    samples: core.map((x) => round(x, 0)),
    baselineSamples: raw.map((x) => round(x, 0)),
    notes,
  };
}
