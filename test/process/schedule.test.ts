import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, type LogLine } from '../helpers/service-process.js';
import { HttpRecorder, freePort } from '../helpers/http-recorder.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * Scheduled jobs in the real service process (test/fixtures/scheduled-job-service.ts: one job,
 * `probe`, and nothing else), with cronitor's stand-in on loopback where the test needs it.
 */

const script = fileURLToPath(new URL('../fixtures/scheduled-job-service.js', import.meta.url));

function start(env: Record<string, string>): ServiceProcess {
  return new ServiceProcess({ script, env: { LOG_PRETTY: 'false', ...env } });
}

describe('a scheduled job in the service', () => {
  const cronitor = new HttpRecorder('ok');
  const services: ServiceProcess[] = [];
  before(async () => {
    await cronitor.start();
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await cronitor.close();
  });

  test('a job that throws a value nothing can print is handled in its scope: fail pings, the service goes on, TERM ends it 0', async () => {
    // The cronitor ping read the value with String(), which threw out of the job's scope:
    // the first run ended the service, 70 (a review helper's drill).
    const service = start({
      PROBE_JOB: 'throw-unprintable',
      CRONITOR_API_KEY: 'key',
      CRONITOR_PING_URL: `${cronitor.baseUrl}/ping`,
    });
    services.push(service);
    const fails = (r: { url: URL }) =>
      r.url.pathname === '/ping/key/worker-base-probe' &&
      r.url.searchParams.get('state') === 'fail';
    await Promise.race([
      cronitor.waitFor((r) => cronitor.requests.filter(fails).length >= 2 && fails(r), 15_000),
      service.exited.then(({ code }) => assert.fail(`exited ${code}:\n${service.tail()}`)),
    ]);
    assert.equal(service.child.exitCode, null, service.tail());
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
    const errors = service.lines.filter((l) => l.msg === 'application error');
    assert.ok(errors.length >= 2, service.tail());
    assert.ok(
      errors.every((l) => l['scope'] === 'job probe'),
      'every error handled in the job scope, none uncaught',
    );
    assert.equal(cronitor.requests.find(fails)?.url.searchParams.get('message'), 'Error: {}');
  });
});

test('a schedule node-cron validates but can never run ends the start with 78, naming the job and the schedule', async (t) => {
  // validate() took it, and the task's start() threw after set-up: 70, a bug's code for a
  // setting (a review helper's drill).
  const service = start({ PROBE_SCHEDULE: '0 0 31W 2 *' });
  t.after(() => service.stop());
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
  const line = service.lines.find((l) => l.msg === 'configuration error');
  assert.match(
    JSON.stringify(line?.['err']),
    /job probe: \\"0 0 31W 2 \*\\" is a cron schedule that never comes/,
  );
});

test("a job still running at the stop holds nothing past 'shutdown complete': the process exits then, not at the deadline", async (t) => {
  // The scheduler's wait kept a timer of the full step timeout (10 s) while the coordinator
  // cut the step to the deadline (4.4 s of 6 s): 'shutdown complete' at 4.40 s, then nothing
  // until the deadline's fatal exit at 6.00 s (a review helper's drill).
  const service = start({
    PROBE_JOB: 'hang',
    SHUTDOWN_ESCALATION_MS: '5000',
    SHUTDOWN_DEADLINE_MS: '6000',
  });
  t.after(() => service.stop());
  await service.waitFor('probe hangs', 15_000);
  service.signal('SIGTERM');
  const complete = await service.waitFor('shutdown complete', 8000);
  const completeAt = performance.now();
  const { code } = await service.waitForExit(8000);
  const lingeredMs = performance.now() - completeAt;
  assert.ok(lingeredMs < 1000, `exited ${Math.round(lingeredMs)} ms after 'shutdown complete'`);
  assert.ok(!service.lines.some((l) => l.msg === 'shutdown deadline exceeded; exiting now'));
  // The step was cut to the deadline and timed out: the exit says so, by its own path.
  assert.equal(code, complete['exitCode'], service.tail());
  assert.ok(service.lines.some((l) => l.msg === 'jobs still running at shutdown; left behind'));
});

/** libfaketime, which moves a process's wall clock and leaves its monotonic one alone. */
const libfaketime = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((path) => existsSync(path));
const noFaketime =
  libfaketime === undefined
    ? 'libfaketime is not installed (apt-get install faketime; scripts/test-prereqs.sh does)'
    : undefined;
if (noFaketime !== undefined) console.log(`# schedule: ${noFaketime}`);

describe('a step of the wall clock', { skip: noFaketime }, () => {
  test('a day, then a year, stepped past a job a second: one warning each with the count, the missed times not run, main free', async (t) => {
    // node-cron walked the missed times one by one, a warning each: a day gave 86,404 lines; a
    // year on a job every 10 s held main until it was killed as stalled, 137 (a review
    // helper's drill). The clock is stepped for real, in the service's own process.
    const dir = mkdtempSync(join(tmpdir(), 'sch-clock-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const offset = join(dir, 'offset');
    writeFileSync(offset, '+0\n');
    const port = await freePort();
    const service = start({
      PROBE_SCHEDULE: '* * * * * *',
      HEALTH_PORT: String(port),
      LD_PRELOAD: libfaketime ?? '',
      FAKETIME_TIMESTAMP_FILE: offset,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    t.after(() => service.stop());
    const missedLine =
      'scheduled times missed (the clock stepped ahead, or main was held); not run';
    const ranAfter = (index: number) => (l: LogLine) =>
      l.msg === 'probe ran' && service.lines.indexOf(l) > index;
    await service.waitFor(ranAfter(-1), 15_000);
    for (const [step, days] of [
      ['+1d', 1],
      ['+366d', 365],
    ] as const) {
      const before = service.lines.length;
      writeFileSync(offset, `${step}\n`);
      const line = await service.waitFor(
        (l) => l.msg === missedLine && service.lines.indexOf(l) >= before,
        10_000,
      );
      // Every second from the first time missed to the one the step landed on, both counted.
      const missed = line['missed'] as number;
      assert.ok(Math.abs(missed - (days * 86_400 + 1)) <= 2, `${step}: ${missed} missed`);
      // It goes on at the new time: a run after the line, and none of the missed ones.
      await service.waitFor(ranAfter(service.lines.indexOf(line)), 5000);
      const warnings = service.lines.slice(before).filter((l) => l.level === 'warn');
      assert.deepEqual(
        warnings.map((l) => l.msg),
        [missedLine],
        `${step}: one warning`,
      );
    }
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const total = /^job_missed_total\{[^}]*job_name="probe"[^}]*\} (\d+)$/m.exec(metrics)?.[1];
    const lines = service.lines.filter((l) => l.msg === missedLine);
    assert.equal(Number(total), (lines[0]!['missed'] as number) + (lines[1]!['missed'] as number));
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  });
});
