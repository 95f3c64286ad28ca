import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Cases } from './case.js';
import { processCases } from './cases/process.js';
import { idleCases } from './cases/idle.js';
import { detectionCases } from './cases/detection.js';
import { zmqCases } from './cases/zmq.js';
import { threadCases } from './cases/threads.js';
import { restartCases } from './cases/restart.js';
import { memoryCases } from './cases/memory.js';
import { amqpCases, leakCases, scaleCases } from './cases/amqp.js';
import { tracingCases } from './cases/tracing.js';
import { localBroker, program, reason } from './prereqs.js';
import { round } from './stats.js';

/**
 * `npm run bench`: every case with its baseline measured in the same run, medians over
 * several runs; JSON to bench/results.json and a short table to stdout. Not part of npm test.
 * `--only a,b` runs some case groups; `--quick` fewer runs (a smoke check, not figures: its
 * results go to dist/, not bench/results.json). A group that cannot run (a program or the
 * broker missing) or fails says why in one line; the bench then exits 1.
 */

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const runs = quick ? 2 : 7;
const partial = quick || values.only !== undefined;
// --out may be relative (to the working directory).
const out = resolve(
  values.out ??
    fileURLToPath(
      new URL(partial ? '../bench-results.json' : '../../bench/results.json', import.meta.url),
    ),
);

type Group = {
  name: string;
  /** Resolves with null when the group can run, else with the reason. */
  needs?: () => Promise<string | null>;
  run: () => Promise<Cases>;
};
const supervisord = () =>
  Promise.resolve(
    program('supervisord', 'apt package supervisor; scripts/test-prereqs.sh installs it'),
  );
const groups: Group[] = [
  { name: 'process', run: () => processCases(runs) },
  { name: 'idle', run: () => (quick ? idleCases(1, 5_000, 5_000) : idleCases(3, 15_000, 15_000)) },
  { name: 'memory', run: () => memoryCases(quick ? 2 : 5) },
  { name: 'detection', run: () => detectionCases(runs, 100) },
  { name: 'zmq', run: () => zmqCases(quick ? 2 : 5, quick ? 20_000 : 100_000) },
  { name: 'threads', run: () => threadCases(quick ? 2 : 5, quick ? 20_000 : 100_000) },
  { name: 'restart', needs: supervisord, run: () => restartCases(quick ? 2 : 5) },
  {
    name: 'amqp',
    needs: localBroker,
    run: () => amqpCases(quick ? 1 : 5, quick ? 10_000 : 50_000, quick ? 5_000 : 20_000),
  },
  {
    name: 'tracing',
    needs: localBroker,
    run: () => tracingCases(quick ? 1 : 3, quick ? 10_000 : 20_000, quick ? 5_000 : 20_000),
  },
  {
    name: 'scale',
    needs: localBroker,
    run: () => scaleCases(quick ? 1 : 3, quick ? 15_000 : 60_000),
  },
  {
    name: 'leak',
    needs: localBroker,
    run: () => (quick ? leakCases(5_000, 50_000) : leakCases(50_000, 500_000)),
  },
];

// A failure outside a group's own promise chain (an emitter's 'error') still ends the bench
// with one line, never a stack trace.
let current = 'bench';
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    process.stderr.write(`bench: ${current} FAILED: ${reason(error)}\n`);
    process.exit(1);
  });
}

const only = values.only?.split(',');
const unknown = only?.filter((name) => !groups.some((g) => g.name === name)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(
    `bench: no group ${unknown.join(', ')}; the groups: ${groups.map((g) => g.name).join(', ')}\n`,
  );
  process.exit(2);
}
const loadAtStart = loadavg();
const cases: Cases = {};
const failed: Record<string, string> = {};
for (const group of groups) {
  if (only && !only.includes(group.name)) continue;
  current = group.name;
  const missing = (await group.needs?.()) ?? null;
  if (missing !== null) {
    failed[group.name] = `cannot run: ${missing}`;
    process.stderr.write(`bench: ${group.name} cannot run: ${missing}\n`);
    continue;
  }
  process.stderr.write(`bench: ${group.name} ...\n`);
  const started = performance.now();
  try {
    Object.assign(cases, await group.run());
    process.stderr.write(
      `bench: ${group.name} done in ${Math.round(performance.now() - started)} ms\n`,
    );
  } catch (error) {
    failed[group.name] = reason(error);
    process.stderr.write(`bench: ${group.name} FAILED: ${reason(error)}\n`);
  }
}

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  date: new Date().toISOString(),
  // The 1-minute load averages before and after: above the core count, others were running.
  loadAverage: { start: round(loadAtStart[0] ?? 0), end: round(loadavg()[0] ?? 0) },
  note: process.env['BENCH_MACHINE_NOTE'] ?? null,
};
const results = { machine, quick, cases, ...(Object.keys(failed).length > 0 ? { failed } : {}) };
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results));
console.log(`\nmachine: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}\n`);
const rows = Object.entries(cases).map(([name, c]) => [
  name,
  `${c.value} ${c.unit}`,
  c.baseline === null ? '-' : String(c.baseline),
  c.ratio === null ? '-' : String(c.ratio),
  c.target,
  c.meetsTarget ? 'yes' : 'NO',
]);
const header = ['case', 'value', 'baseline', 'ratio', 'target', 'met'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
for (const row of [header, ...rows])
  console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '));
console.log(`\nwritten to ${out}`);
for (const [name, why] of Object.entries(failed)) console.log(`FAILED ${name}: ${why}`);
// Exit now: a client left reconnecting after a failed run must not keep the bench alive.
process.exit(Object.keys(failed).length > 0 ? 1 : 0);
