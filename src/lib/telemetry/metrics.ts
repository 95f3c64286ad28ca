/**
 * The metrics API. Components record through `Metrics`; `createMetrics()` gives every sink
 * (InfluxDB, Prometheus) the same figures under the same names, exactly as the caller wrote
 * them. A name is written once, at the line that records it, in Prometheus' convention:
 * snake_case, a first word naming the area (`amqp_`, `policy_`, `threads_`...), the base unit
 * spelled out (`_seconds`, `_bytes`), `_total` on counters and only on counters, `_seconds` on
 * timings. Nothing rewrites a name: one that breaks the convention throws where it
 * is recorded (`checkMetric()`), in every `Metrics` including `noopMetrics`, so the first test
 * that takes its path fails. Otherwise recording never throws and never blocks: a metrics
 * outage must not hurt the service.
 */

export type MetricTags = Readonly<Record<string, string>>;

export type MetricKind = 'count' | 'gauge' | 'timing';

export interface Metrics {
  /** Adds `value` (default 1) to a counter; the name ends in `_total`. */
  count(name: string, value?: number, tags?: MetricTags): void;
  /** Records the current value of something (queue depth, thread count), in base units. */
  gauge(name: string, value: number, tags?: MetricTags): void;
  /**
   * Records a duration measured in milliseconds (what `performance.now()` differences give);
   * the name ends in `_seconds`, and both sinks receive seconds (a histogram in Prometheus).
   */
  timing(name: string, ms: number, tags?: MetricTags): void;
  /**
   * Runs `collect` before each Prometheus scrape with a recorder that writes to Prometheus
   * alone, for gauges read on demand (thread counts, in-flight work). Absent when Prometheus
   * is off; `collect` must be quick and synchronous.
   */
  onScrape?(collect: (metrics: Metrics) => void): void;
}

/** A destination of checked figures: the name as recorded, the value in base units. */
export interface MetricSink {
  record(kind: MetricKind, name: string, value: number, tags: MetricTags | undefined): void;
}

/** Lower-case words joined by single underscores: no dots, capitals, colons or `__`. */
const snakeCase = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/** Units promtool accepts as base units. */
const baseUnits = new Set(['seconds', 'bytes', 'meters', 'metres', 'grams', 'joules', 'volts']);
/** Other units, with the base unit to use instead. */
const otherUnits: Readonly<Record<string, string>> = {
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  weeks: 'seconds',
  bits: 'bytes',
};
/** SI and binary prefixes: `milliseconds` and `kilobytes` are not base units. */
const unitPrefixes =
  'pico nano micro milli centi deci kilo kibi mega mebi giga gibi tera tebi peta pebi'.split(' ');
/** Abbreviated units: promtool's list, and a few more spellings of time. */
const abbreviations = new Set(
  's ms us ns sec secs millis micros nanos min mins hrs h d m b kb mb gb tb pb'.split(' '),
);
/** Words promtool refuses in a name: the type is the sink's business. */
const typeWords = new Set(['counter', 'gauge', 'histogram', 'summary']);
/** Suffixes of the series Prometheus derives from a histogram. */
const derivedSuffixes = ['_bucket', '_count', '_sum', '_created'];
/** Prefixes of the runtime figures prom-client already exposes (see `prometheus.ts`). */
const runtimePrefixes = ['process_', 'nodejs_'];
/** Labels Prometheus sets itself (`job`, `instance`) or uses for histograms (`le`, `quantile`). */
const reservedLabels = new Set(['job', 'instance', 'le', 'quantile']);

/** The unit rule a word of a name breaks, if any. */
function unitProblem(word: string): string | undefined {
  if (abbreviations.has(word)) return `abbreviates a unit ('${word}'): spell the base unit`;
  const prefix = unitPrefixes.find((p) => word.startsWith(p) && word.length > p.length);
  const unit = prefix === undefined ? word : word.slice(prefix.length);
  const base = baseUnits.has(unit) ? unit : otherUnits[unit];
  if (base === undefined || word === base) return undefined;
  return `uses '${word}': use the base unit '${base}' (and record in it)`;
}

/**
 * Why `name` breaks the naming convention for a figure of `kind`, or undefined when it keeps
 * it. The rules are promtool's (`promtool check metrics`) plus ours: counters end in `_total`,
 * timings in `_seconds`, and the runtime figures' prefixes are taken.
 */
export function metricNameProblem(kind: MetricKind, name: string): string | undefined {
  if (!snakeCase.test(name)) return 'is not snake_case (lower-case words joined by single _)';
  const words = name.split('_');
  for (const word of words) {
    const unit = unitProblem(word);
    if (unit !== undefined) return unit;
    if (typeWords.has(word)) return `names its type ('${word}')`;
  }
  if (words.length < 2) return 'is one word: start with the area it belongs to (amqp_, job_...)';
  const taken = runtimePrefixes.find((p) => name.startsWith(p));
  if (taken !== undefined) return `starts with '${taken}', the runtime figures' prefix`;
  const derived = derivedSuffixes.find((s) => name.endsWith(s));
  if (derived !== undefined) return `ends in '${derived}', a suffix Prometheus derives`;
  const isTotal = name.endsWith('_total');
  if (kind === 'count' && !isTotal) return "is a counter: end it in '_total'";
  if (kind !== 'count' && isTotal) return "ends in '_total', which only counters do";
  if (kind === 'timing' && !name.endsWith('_seconds')) return "is a timing: end it in '_seconds'";
  return undefined;
}

/** Why `label` is not a usable label (tag) name, or undefined when it is. */
export function labelNameProblem(label: string): string | undefined {
  if (!snakeCase.test(label)) return 'is not snake_case';
  if (reservedLabels.has(label)) return 'is reserved by Prometheus';
  return undefined;
}

/** A name that breaks the convention: a programming error, never caught and logged away. */
export class MetricNameError extends TypeError {
  override name = 'MetricNameError';
}

/** Names and label names already checked (code constants: a few dozen per thread). */
const checked: Record<MetricKind, Set<string>> = {
  count: new Set(),
  gauge: new Set(),
  timing: new Set(),
};
const checkedLabels = new Set<string>();

/**
 * Throws a MetricNameError when `name` or a tag name breaks the convention (see
 * `metricNameProblem()`); a programming error, raised on every call so the first test that
 * takes the path fails. Cheap once a name has passed.
 */
export function checkMetric(kind: MetricKind, name: string, tags?: MetricTags): void {
  if (!checked[kind].has(name)) {
    const problem = metricNameProblem(kind, name);
    if (problem !== undefined) throw new MetricNameError(`metric ${kind} '${name}' ${problem}`);
    checked[kind].add(name);
  }
  if (tags === undefined) return;
  for (const label of Object.keys(tags)) {
    if (checkedLabels.has(label)) continue;
    const problem = labelNameProblem(label);
    if (problem !== undefined)
      throw new MetricNameError(`label '${label}' of '${name}' ${problem}`);
    checkedLabels.add(label);
  }
}

/** Records nothing; checks names as every `Metrics` does. */
export const noopMetrics: Metrics = {
  count: (name, _value, tags) => checkMetric('count', name, tags),
  gauge: (name, _value, tags) => checkMetric('gauge', name, tags),
  timing: (name, _ms, tags) => checkMetric('timing', name, tags),
};

/**
 * One `Metrics` feeding every sink (`noopMetrics` when there is none): each figure checked,
 * timings turned from milliseconds into seconds, non-finite values dropped.
 */
export function createMetrics(
  sinks: readonly MetricSink[],
  scrape?: (collect: (metrics: Metrics) => void) => void,
): Metrics {
  if (sinks.length === 0) return noopMetrics;
  const record = (kind: MetricKind, name: string, value: number, tags?: MetricTags): void => {
    checkMetric(kind, name, tags);
    if (!Number.isFinite(value)) return;
    for (const sink of sinks) sink.record(kind, name, value, tags);
  };
  return {
    count: (name, value = 1, tags) => record('count', name, value, tags),
    gauge: (name, value, tags) => record('gauge', name, value, tags),
    timing: (name, ms, tags) => record('timing', name, ms / 1000, tags),
    ...(scrape && { onScrape: scrape }),
  };
}
