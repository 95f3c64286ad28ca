import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { FaultRecord } from './faults.js';
import type { ChaosOptions } from './options.js';
import type { Gap, Tally } from './tally.js';

/**
 * The chaos soak's verdict: the figures as JSON (to a file) and a short table (stdout), and
 * whether the promises held: nothing lost, every poison message in the failed queue, nothing
 * else there, duplicates within prefetch x faults, and the run finished before its deadline.
 */

export interface RunFacts {
  options: ChaosOptions;
  vhost: string;
  startedAt: number;
  endedAt: number;
  /** Why the run ended early (deadline, Ctrl-C, an error), if it did. */
  error: string | undefined;
  faults: FaultRecord[];
  /** supervisord's spawns of the app over the whole run, in every tree. */
  spawns: number;
  treeRestarts: Array<{ at: string; code: number | null; signal: string | null; tail: string }>;
  observerReconnects: number;
  republished: number;
  /** Ready messages left in the queues after the service stopped. */
  left: Record<string, number> | undefined;
}

export interface ChaosReport {
  ok: boolean;
  problems: string[];
  machine: { cores: number; node: string };
  figures: {
    published: number;
    poisonPublished: number;
    transientPublished: number;
    results: number;
    idsWithResult: number;
    lost: number;
    duplicates: number;
    duplicateBound: number;
    poisonFailed: number;
    unexpectedFailed: number;
    restarts: number;
    treeRestarts: number;
    /** With the last fault injected before the gap ended, if any. */
    longestGap: Gap & { after: string | null };
    durationMs: number;
    observerReconnects: number;
    observerRedeliveries: number;
    republished: number;
    strangers: number;
  };
  faults: Array<Omit<FaultRecord, 'readyAt'> & { readyAt: string; duplicates: number }>;
  lostIds: string[];
  treeRestarts: RunFacts['treeRestarts'];
  left: RunFacts['left'];
  options: ChaosOptions;
  vhost: string;
  error: string | null;
}

export function buildReport(tally: Tally, facts: RunFacts): ChaosReport {
  const summary = tally.summary();
  const kinds = [...tally.published.values()];
  const faults = facts.faults.map((f, i) => {
    const at = Date.parse(f.at);
    const resumed = tally.firstResultAfter(f.readyAt);
    const nextAt = facts.faults[i + 1]?.at;
    const until = nextAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(nextAt);
    return {
      ...f,
      readyAt: new Date(f.readyAt).toISOString(),
      resumedMs: resumed === undefined ? null : resumed - at,
      // Duplicates that arrived from this fault to the next: the ones it most likely caused.
      duplicates: tally.duplicateTimes.filter((t) => t >= at && t < until).length,
    };
  });
  const gap = tally.longestGap();
  const gapDuring = faults.filter((f) => f.at <= gap.to).at(-1)?.kind ?? null;
  // Each fault (and each restart of the whole tree) may redeliver what was in flight: at
  // most a prefetch window of messages each.
  const duplicateBound = facts.options.prefetch * (faults.length + facts.treeRestarts.length);
  const problems: string[] = [];
  if (facts.error !== undefined) problems.push(`run did not finish: ${facts.error}`);
  if (summary.lost.length > 0) problems.push(`${summary.lost.length} messages lost`);
  if (summary.poisonMissing.length > 0) {
    problems.push(`${summary.poisonMissing.length} poison messages not in the failed queue`);
  }
  if (summary.unexpectedFailed.length > 0) {
    problems.push(`${summary.unexpectedFailed.length} good messages in the failed queue`);
  }
  if (summary.duplicates > duplicateBound) {
    problems.push(`${summary.duplicates} duplicates, above the bound ${duplicateBound}`);
  }
  if (faults.length < facts.options.faults.length) {
    problems.push(`${faults.length} of ${facts.options.faults.length} faults injected`);
  }
  return {
    ok: problems.length === 0,
    problems,
    machine: { cores: cpus().length, node: process.version },
    figures: {
      published: tally.published.size,
      poisonPublished: kinds.filter((k) => k === 'poison').length,
      transientPublished: kinds.filter((k) => k === 'transient').length,
      results: tally.resultTimes.length,
      idsWithResult: tally.results.size,
      lost: summary.lost.length,
      duplicates: summary.duplicates,
      duplicateBound,
      poisonFailed: summary.poisonFailed,
      unexpectedFailed: summary.unexpectedFailed.length,
      restarts: Math.max(0, facts.spawns - 1),
      treeRestarts: facts.treeRestarts.length,
      longestGap: { ...gap, after: gapDuring },
      durationMs: facts.endedAt - facts.startedAt,
      observerReconnects: facts.observerReconnects,
      observerRedeliveries: tally.observerRedeliveries,
      republished: facts.republished,
      strangers: tally.strangers,
    },
    faults,
    lostIds: summary.lost.slice(0, 50),
    treeRestarts: facts.treeRestarts,
    left: facts.left,
    options: facts.options,
    vhost: facts.vhost,
    error: facts.error ?? null,
  };
}

export function writeReport(report: ChaosReport, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** The short table for stdout. */
export function formatReport(report: ChaosReport): string {
  const f = report.figures;
  const rows: Array<[string, string]> = [
    [
      'published',
      `${f.published} (${f.poisonPublished} poison, ${f.transientPublished} transient)`,
    ],
    ['results received', `${f.results} (${f.idsWithResult} distinct ids)`],
    ['lost', String(f.lost)],
    ['duplicates', `${f.duplicates} (bound ${f.duplicateBound} = prefetch x faults)`],
    ['poison in failed queue', `${f.poisonFailed} of ${f.poisonPublished}`],
    ['good messages failed', String(f.unexpectedFailed)],
    ['restarts observed', `${f.restarts} (whole tree restarted ${f.treeRestarts} times)`],
    [
      'longest gap',
      `${f.longestGap.ms} ms (${f.longestGap.from} .. ${f.longestGap.to}, after ${f.longestGap.after ?? 'no fault'})`,
    ],
    ['duration', `${f.durationMs} ms`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = [
    `chaos soak: ${report.machine.cores} cores, Node ${report.machine.node}`,
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    'fault             pid -> next      ready ms  resumed ms  spawns  outstanding  duplicates',
    ...report.faults.map(
      (x) =>
        `${x.kind.padEnd(16)}  ${`${x.pid} -> ${x.nextPid}`.padEnd(15)}  ${String(x.readyMs).padStart(8)}  ${String(x.resumedMs ?? '-').padStart(10)}  ${String(x.spawns).padStart(6)}  ${String(x.outstanding).padStart(11)}  ${String(x.duplicates).padStart(10)}`,
    ),
    '',
    report.ok ? 'OK' : `FAILED: ${report.problems.join('; ')}`,
  ];
  return lines.join('\n');
}
