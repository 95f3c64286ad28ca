import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Cases } from './case.js';
import { processCases } from './cases/process.js';
import { detectionCases } from './cases/detection.js';
import { zmqCases } from './cases/zmq.js';
import { threadCases } from './cases/threads.js';
import { restartCases } from './cases/restart.js';
import { amqpCases } from './cases/amqp.js';
import { tracingCases } from './cases/tracing.js';

/**
 * `npm run bench`: every case with its baseline measured in the same run, medians over
 * several runs; JSON to bench/results.json and a short table to stdout. Not part of npm test.
 * `--only a,b` runs some case groups; `--quick` fewer runs (a smoke check, not figures).
 */

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: {
      type: 'string',
      default: fileURLToPath(new URL('../../bench/results.json', import.meta.url)),
    },
  },
});
const quick = values.quick ?? false;
const runs = quick ? 2 : 7;

type Group = { name: string; run: () => Promise<Cases> };
const groups: Group[] = [
  { name: 'process', run: () => processCases(runs) },
  { name: 'detection', run: () => detectionCases(runs, 100) },
  { name: 'zmq', run: () => zmqCases(quick ? 2 : 5, quick ? 20_000 : 100_000) },
  { name: 'threads', run: () => threadCases(quick ? 2 : 5, quick ? 20_000 : 100_000) },
  { name: 'restart', run: () => restartCases(quick ? 2 : 5) },
  { name: 'amqp', run: () => amqpCases(quick ? 1 : 5, quick ? 10_000 : 50_000) },
  { name: 'tracing', run: () => tracingCases(quick ? 1 : 3, quick ? 10_000 : 20_000) },
];

const only = values.only?.split(',');
const cases: Cases = {};
for (const group of groups) {
  if (only && !only.includes(group.name)) continue;
  process.stderr.write(`bench: ${group.name} ...\n`);
  const started = performance.now();
  Object.assign(cases, await group.run());
  process.stderr.write(
    `bench: ${group.name} done in ${Math.round(performance.now() - started)} ms\n`,
  );
}

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  date: new Date().toISOString(),
};
const results = { machine, cases };
mkdirSync(new URL('.', `file://${values.out}`), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
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
console.log(`\nwritten to ${values.out}`);
