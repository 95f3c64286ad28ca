import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { isRunning } from '../helpers/npm-run.js';
import type { FileLine } from '../helpers/file-lines.js';
import {
  entrypointScript,
  serviceTime,
  supervisordTime,
  Supervisord,
} from '../helpers/supervisord.js';
import { HttpRecorder } from '../helpers/http-recorder.js';
import { runFile } from '../helpers/exec.js';

/**
 * The real supervisord with the project's supervisord.conf, started by the project's
 * entrypoint.sh, running the built fixture service: what happens inside the container when the
 * service fails, is stopped, or is killed. Restart times are printed for the report.
 */

let current: Supervisord | undefined;
function start(env: Record<string, string> = {}): Supervisord {
  current = new Supervisord(env);
  return current;
}
afterEach(async () => {
  await current?.stop();
  current = undefined;
});

/** Waits until supervisord says the app is RUNNING (up for startsecs). */
async function running(sv: Supervisord, from = 0): Promise<void> {
  await sv.output.waitFor('success: app entered RUNNING state', 15_000, from);
}

/**
 * Starts the tree with `fault` for the first run only: the fault is read once at start-up
 * (FAULT_FILE), and the file emptied as soon as the first run has read it. Waits for that run
 * to exit with `status`, not expected, and for supervisord to spawn the next.
 */
/** The pids of the first `n` runs that logged `ready`. */
async function readyPids(sv: Supervisord, n: number): Promise<number[]> {
  const pids: number[] = [];
  let from = 0;
  while (pids.length < n) {
    const line = await sv.output.waitFor(sv.serviceLine('ready'), 30_000, from);
    from = sv.output.lines.indexOf(line) + 1;
    pids.push(Number(line.json?.['pid']));
  }
  return pids;
}

async function failOnce(
  t: { after: (fn: () => void) => void },
  fault: string,
  status: number,
): Promise<{
  sv: Supervisord;
  exited: FileLine;
  spawned: FileLine;
  exitIndex: number;
  firstPid: number;
  secondPid: number;
}> {
  const faultFile = join(tmpdir(), `worker-base-fault-${randomUUID()}`);
  writeFileSync(faultFile, fault);
  t.after(() => rmSync(faultFile, { force: true }));
  const sv = start({ FAULT_FILE: faultFile });
  const first = await sv.output.waitFor(sv.serviceLine('starting'));
  assert.equal(first.json?.['fault'], fault);
  writeFileSync(faultFile, '');
  const exited = await sv.output.waitFor(`exited: app (exit status ${status}; not expected)`);
  const exitIndex = sv.output.lines.indexOf(exited);
  const spawned = await sv.output.waitFor(/spawned: 'app' with pid \d+/, 15_000, exitIndex);
  const [firstPid, secondPid] = sv.spawnedPids();
  assert.ok(firstPid !== undefined && secondPid !== undefined && secondPid !== firstPid);
  return { sv, exited, spawned, exitIndex, firstPid, secondPid };
}

describe('supervisord running the service', { timeout: 150_000 }, () => {
  test('a service that exits non-zero is restarted, and the restart time is printed', async (t) => {
    // Only the first run fails (worker exit -> exit code 71).
    const { sv, exited, spawned, exitIndex, secondPid } = await failOnce(
      t,
      'worker-exit:cruncher',
      71,
    );
    const ready = await sv.output.waitFor(sv.serviceLine('ready', secondPid), 15_000);
    assert.equal(ready.json?.['fault'], undefined);
    await running(sv, exitIndex);

    const spawnMs = supervisordTime(spawned) - supervisordTime(exited);
    const readyMs = serviceTime(ready) - supervisordTime(exited);
    console.log(
      `restart after exit 71 (within startsecs: 1 s back-off): respawned after ${spawnMs} ms, ready after ${readyMs} ms`,
    );
    assert.equal(sv.spawnedPids().length, 2, 'restarted exactly once');
  });

  test('supervisorctl stop app sends TERM; the service exits 0 and is not restarted', async () => {
    const sv = start();
    await running(sv);
    const appPid = sv.spawnedPids()[0]!;
    await sv.output.waitFor(sv.serviceLine('ready', appPid));

    const stop = await sv.supervisorctl('stop', 'app');
    assert.match(stop.stdout, /app: stopped/);
    const requested = await sv.output.waitFor(sv.serviceLine('stop requested', appPid));
    assert.equal(requested.json?.['signal'], 'SIGTERM');
    const complete = await sv.output.waitFor(sv.serviceLine('shutdown complete', appPid));
    assert.equal(complete.json?.['exitCode'], 0);
    await sv.output.waitFor('stopped: app (exit status 0)');
    assert.equal(isRunning(appPid), false);

    const status = await sv.supervisorctl('status', 'app');
    assert.match(status.stdout, /^app\s+STOPPED/m);
    await sv.stop();
    assert.deepEqual(sv.spawnedPids(), [appPid], 'never started again');
  });

  test('a service that stops by itself with exit 0 ends the container with it: supervisord exits 0', async () => {
    // A TERM to the service alone (not through supervisord): supervisord leaves it down
    // (autorestart=unexpected), and a container left running without it would look alive.
    const sv = start();
    await running(sv);
    const appPid = sv.spawnedPids()[0]!;
    await sv.output.waitFor(sv.serviceLine('ready', appPid));
    process.kill(appPid, 'SIGTERM');
    await sv.output.waitFor('exited: app (exit status 0; expected)');
    await sv.output.waitFor(
      /fatal-listener: app exited 0 by itself \(a requested stop\); the container ends with it/,
    );
    const { code, signal } = await sv.waitForExit(15_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'a clean stop, no failure');
    assert.equal(sv.output.filter(/supervisord: exiting 1/).length, 0);
    assert.deepEqual(sv.spawnedPids(), [appPid], 'never started again');
  });

  test('process.exit(0) from the code (FAULT=main-exit:0) is no requested stop: exit 70, and supervisord restarts the service', async (t) => {
    // The exit comes past startsecs, a run that ended: before the guard
    // (lifecycle/stray-exit.ts) it exited 0, `expected`, and stayed down, as above.
    const { sv, exitIndex, firstPid, secondPid } = await failOnce(t, 'main-exit:0', 70);
    const fatal = sv.output.lines.find(
      (l) => l.json?.['pid'] === firstPid && l.json?.['level'] === 'fatal',
    );
    assert.equal(fatal?.json?.['replacedBy'], 70);
    await sv.output.waitFor(sv.serviceLine('ready', secondPid), 15_000);
    await running(sv, exitIndex);
  });

  test('kill -9 of the running service: supervisord starts a new one, which gets ready', async () => {
    const sv = start();
    await running(sv);
    const firstPid = sv.spawnedPids()[0]!;
    await sv.output.waitFor(sv.serviceLine('ready', firstPid));

    process.kill(firstPid, 'SIGKILL');
    const exited = await sv.output.waitFor(/exited: app \(terminated by SIGKILL; not expected\)/);
    const exitIndex = sv.output.lines.indexOf(exited);
    const spawned = await sv.output.waitFor(/spawned: 'app' with pid \d+/, 15_000, exitIndex);
    const secondPid = sv.spawnedPids()[1]!;
    assert.notEqual(secondPid, firstPid);
    const ready = await sv.output.waitFor(sv.serviceLine('ready', secondPid));
    await running(sv, exitIndex);

    const spawnMs = supervisordTime(spawned) - supervisordTime(exited);
    const readyMs = serviceTime(ready) - supervisordTime(exited);
    console.log(
      `restart after kill -9 (was RUNNING, no back-off; supervisord acts on its 1 s loop tick): respawned after ${spawnMs} ms, ready after ${readyMs} ms`,
    );
    assert.equal(sv.spawnedPids().length, 2, 'restarted exactly once');
  });

  test('repeated fast failures: app goes FATAL and the listener stops supervisord', async () => {
    const sv = start({ FAULT: 'dependency:startup' });
    await sv.output.waitFor('gave up: app entered FATAL state', 30_000);
    await sv.output.waitFor(/fatal-listener: app entered FATAL/);
    const { code, signal } = await sv.waitForExit(15_000);
    console.log(`supervisord exited (code ${code}, signal ${signal}) after app went FATAL`);
    assert.equal(signal, null);
    assert.equal(code, 1, 'a failure, so a restart policy of on-failure brings the container back');
    assert.ok(sv.output.filter(/supervisord: exiting 1: app entered FATAL/).length === 1);
    // One start and startretries (3) retries, each ending with the dependency exit code.
    assert.equal(sv.spawnedPids().length, 4);
    assert.equal(sv.output.filter(/exited: app \(exit status 69; not expected\)/).length, 4);
    assert.ok(sv.output.filter(/supervisord started with pid/).length === 1);
  });

  test('a crash loop past startsecs: the listener counts each exit and stops supervisord at the limit', async () => {
    const sv = start({ CRASH_LOOP_LIMIT: '2' });
    let from = 0;
    for (let round = 1; round <= 2; round++) {
      const spawned = await sv.output.waitFor(/spawned: 'app' with pid \d+/, 15_000, from);
      from = sv.output.lines.indexOf(spawned) + 1;
      const pid = sv.spawnedPids()[round - 1]!;
      await running(sv, from); // past startsecs: supervisord restarts it at once, no back-off
      process.kill(pid, 'SIGKILL');
      await sv.output.waitFor(
        `fatal-listener: app exited unexpectedly: ${round} in the last 600 s (the container gives up at 2)`,
      );
    }
    // The listener acts as supervisord respawns the service: stopping that new start may take
    // up to stopwaitsecs (45 s) while TERM arrives during its set-up.
    const { code, signal } = await sv.waitForExit(60_000);
    assert.deepEqual({ code, signal }, { code: 1, signal: null });
    const exiting = sv.output.filter(/supervisord: exiting 1: app crash loop: 2 unexpected exits/);
    assert.equal(exiting.length, 1);
  });

  test('a start-up that never gets ready, past startsecs: NEVER_READY_LIMIT runs in a row end the container; a run that got ready and died is no such run', async (t) => {
    // A start-up hanging to STARTUP_TIMEOUT_MS (120 s) exits too seldom for the crash-loop
    // window (10 in 600 s): supervisord restarted it for ever, each run live to the health
    // check and none doing any work (a review helper's drill, 70 s of it).
    const faultFile = join(tmpdir(), `worker-base-fault-${randomUUID()}`);
    writeFileSync(faultFile, '');
    t.after(() => rmSync(faultFile, { force: true }));
    const sv = start({
      FAULT_FILE: faultFile,
      NEVER_READY_LIMIT: '2',
      STARTUP_TIMEOUT_MS: '4000',
      SHUTDOWN_STEP_TIMEOUT_MS: '1000',
    });
    const [firstPid] = await readyPids(sv, 1);
    await running(sv); // past startsecs: an exit supervisord restarts at once
    writeFileSync(faultFile, 'hang:startup');
    process.kill(firstPid!, 'SIGKILL');
    await sv.output.waitFor(/fatal-listener: app exited unexpectedly: 1 in the last/, 15_000);
    const { code, signal } = await sv.waitForExit(90_000);
    assert.deepEqual({ code, signal }, { code: 1, signal: null }, sv.output.tail());
    // The run that got ready counted in the crash window only; the two that hung, in a row.
    assert.deepEqual(
      sv.output.filter(/fatal-listener: app exited before it got ready/).map((l) => l.text),
      [1, 2].map(
        (n) =>
          `fatal-listener: app exited before it got ready: ${n} runs in a row (the container gives up at 2)`,
      ),
    );
    assert.equal(
      sv.output.filter(/exited: app \(exit status 70; not expected\)/).length,
      2,
      sv.output.tail(),
    );
    assert.equal(
      sv.output.filter(
        /supervisord: exiting 1: app start-up loop: 2 runs in a row exited before they got ready/,
      ).length,
      1,
    );
  });

  test('HEALTH_PORT=0: the healthchecks cron line, run as cron runs it, pings while supervisord says RUNNING, not once the app is stopped', async (t) => {
    // It pinged whatever the service did: stopped, or restarting in a loop, the container
    // looked alive from outside.
    const recorder = new HttpRecorder();
    t.after(() => recorder.close());
    const base = await recorder.start();
    const sv = start({ HEALTH_PORT: '0' });
    await running(sv);
    const written = await runFile('/bin/sh', [entrypointScript], {
      env: {
        ...sv.env,
        ENTRYPOINT_DRY_RUN: '1',
        CRON_AUTOSTART: 'true',
        HEALTHCHECKS_URL: `${base}/ping/supervised`,
        CRON_D_DIR: join(sv.root, 'cron-check.d'),
      },
    });
    assert.equal(written.code, 0, written.stderr);
    const line = readFileSync(join(sv.root, 'cron-check.d', 'healthchecks'), 'utf8').split('\n')[1];
    const [, user, command] = /^(?:\S+\s+){5}(\S+)\s+(.*)$/.exec(line ?? '') ?? [];
    assert.equal(user, 'root', line);
    // The environment cron gives a job (Debian cron: no container variables).
    const cronEnv = { PATH: '/usr/bin:/bin', SHELL: '/bin/sh' };
    const live = await runFile('/bin/sh', ['-c', command!], { env: cronEnv });
    assert.equal(live.code, 0, live.stderr);
    assert.deepEqual(
      recorder.requests.map((r) => r.url.pathname),
      ['/ping/supervised'],
    );
    await sv.supervisorctl('stop', 'app');
    const stopped = await runFile('/bin/sh', ['-c', command!], { env: cronEnv });
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.stderr, /healthcheck: HEALTH_PORT=0, and supervisord says: app\s+STOPPED/);
    assert.equal(recorder.requests.length, 1, 'no ping for a stopped service');
  });
});
