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
