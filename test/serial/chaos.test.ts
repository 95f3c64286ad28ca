import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { runFile } from '../helpers/exec.js';
import type { ChaosReport } from '../../bench/chaos/report.js';

/**
 * `npm run chaos` in small: the real tool (the service under the real supervisord, real
 * faults, the shared broker) with 500 messages and three faults, one of them a connection
 * closed by the broker. Serial: the tool disturbs the broker's connections.
 */

const chaosScript = fileURLToPath(new URL('../../bench/chaos.js', import.meta.url));
const out = join(tmpdir(), `worker-base-chaos-test-${randomUUID()}.json`);
after(() => rmSync(out, { force: true }));

test('a small chaos soak loses no message, fails every poison one, and keeps duplicates within the bound', async () => {
  const args = ['--count', '500', '--publish-s', '12', '--deadline-s', '90', '--out', out];
  const faults = ['kill', 'close-connection', 'worker-exit'];
  // On timeout runFile sends TERM: the tool then stops everything it started.
  const run = await runFile(process.execPath, [chaosScript, ...args, '--faults', faults.join()], {
    env: { PATH: process.env['PATH'] ?? '' },
    timeoutMs: 120_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  assert.equal(run.code, 0, output);
  const report = JSON.parse(readFileSync(out, 'utf8')) as ChaosReport;
  const f = report.figures;
  assert.equal(f.published, 500, output);
  assert.equal(f.lost, 0, output);
  assert.ok(f.poisonPublished > 0 && f.poisonFailed === f.poisonPublished, output);
  assert.equal(f.unexpectedFailed, 0, output);
  assert.ok(f.duplicates <= f.duplicateBound, output);
  assert.deepEqual(
    report.faults.map((x) => x.kind),
    faults,
  );
  // kill and close-connection: one restart each; worker-exit: the restart that arms it and
  // the one after the faulted process's exit 71.
  assert.ok(f.restarts >= 4, output);
  for (const fault of report.faults) assert.notEqual(fault.nextPid, fault.pid, output);
  assert.equal(report.error, null, output);
});
