import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { isRunning } from '../helpers/npm-run.js';
import { serviceTime, supervisordTime, Supervisord } from '../helpers/supervisord.js';

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

describe('supervisord running the service', { timeout: 150_000 }, () => {
  test('a service that exits non-zero is restarted, and the restart time is printed', async (t) => {
    // The fault is read once at start-up (FAULT_FILE): emptied as soon as the first run has
    // read it, so only the first run fails (worker exit -> exit code 71).
    const faultFile = join(tmpdir(), `worker-base-fault-${randomUUID()}`);
    writeFileSync(faultFile, 'worker-exit:cruncher');
    t.after(() => rmSync(faultFile, { force: true }));
    const sv = start({ FAULT_FILE: faultFile });
    const first = await sv.output.waitFor(sv.serviceLine('starting'));
    assert.equal(first.json?.['fault'], 'worker-exit:cruncher');
    writeFileSync(faultFile, '');

    const exited = await sv.output.waitFor(/exited: app \(exit status 71; not expected\)/);
    const exitIndex = sv.output.lines.indexOf(exited);
    const spawned = await sv.output.waitFor(/spawned: 'app' with pid \d+/, 15_000, exitIndex);
    const [firstPid, secondPid] = sv.spawnedPids();
    assert.ok(secondPid !== undefined && secondPid !== firstPid);
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

  test('a service that stops by itself with exit 0 stays down (autorestart=unexpected)', async () => {
    const sv = start();
    await running(sv);
    const appPid = sv.spawnedPids()[0]!;
    await sv.output.waitFor(sv.serviceLine('ready', appPid));
    process.kill(appPid, 'SIGTERM');
    await sv.output.waitFor('exited: app (exit status 0; expected)');
    const status = await sv.supervisorctl('status', 'app');
    assert.match(status.stdout, /^app\s+EXITED/m);
    await sv.stop();
    assert.deepEqual(sv.spawnedPids(), [appPid], 'never started again');
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
});
