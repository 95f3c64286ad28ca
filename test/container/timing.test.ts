import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  readDockerfile,
  readSupervisordConf,
  readYaml,
  renderCompose,
} from '../helpers/container-files.js';
import { makeRoot, repoDir, Supervisord, supervisordTime } from '../helpers/supervisord.js';
import type { FileLine } from '../helpers/file-lines.js';

/**
 * The stop timings nest, outermost first, or a layer kills the one inside it before it can
 * finish: compose stop_grace_period (Docker's KILL) > supervisord stopwaitsecs (its KILL) >
 * the service's hard deadline > its debug escalation. The values are read from the files
 * that set them, and the order is then watched happening: the real supervisord with the
 * shipped supervisord.conf stops the real service whose shutdown cannot finish, and the
 * service's own escalation and deadline, not supervisord's KILL, decide how it ends.
 */

function seconds(duration: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  assert.ok(m, `a compose duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
}

interface StopTimings {
  grace: number;
  stopwait: number;
  deadline: number;
  escalation: number;
}

/** The four timings, in seconds, from the rendered compose file, the conf and the defaults. */
async function readTimings(dir: string): Promise<{ timings: StopTimings; compose: string }> {
  writeFileSync(join(dir, '.env'), 'APP_ENV=production\n');
  const out = join(dir, 'docker-compose.yml');
  const rendered = await renderCompose({}, join(dir, '.env'), out);
  assert.equal(rendered.code, 0, rendered.stderr);
  const compose = readYaml(out) as { services: { app: { stop_grace_period: string } } };
  const defaults = JSON.parse(readFileSync(join(repoDir, 'config', 'default.json'), 'utf8')) as {
    shutdown: { deadlineMs: number; escalationMs: number };
  };
  return {
    timings: {
      grace: seconds(compose.services.app.stop_grace_period),
      stopwait: Number(readSupervisordConf().get('program:app')?.get('stopwaitsecs')),
      deadline: defaults.shutdown.deadlineMs / 1000,
      escalation: defaults.shutdown.escalationMs / 1000,
    },
    compose: readFileSync(out, 'utf8'),
  };
}

test('the files nest the timings: stop_grace_period > stopwaitsecs > deadline > escalation', async (t) => {
  const dir = makeRoot();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { timings, compose } = await readTimings(dir);
  const { grace, stopwait, deadline, escalation } = timings;
  console.log(
    `stop timings: grace ${grace} s > stopwaitsecs ${stopwait} s > deadline ${deadline} s > escalation ${escalation} s`,
  );
  // supervisord adds a few seconds of its own to a stop: keep at least 5 s between layers.
  assert.ok(grace - stopwait >= 5, `grace ${grace} s, stopwaitsecs ${stopwait} s`);
  assert.ok(stopwait - deadline >= 5, `stopwaitsecs ${stopwait} s, deadline ${deadline} s`);
  assert.ok(deadline > escalation, `deadline ${deadline} s, escalation ${escalation} s`);
  // Nothing in the image or the compose file overrides the service's own defaults.
  const imageEnv = readDockerfile()
    .filter((i) => i.keyword === 'ENV')
    .map((i) => i.args)
    .join(' ');
  assert.doesNotMatch(imageEnv, /SHUTDOWN_(DEADLINE|ESCALATION)_MS/);
  assert.doesNotMatch(compose, /SHUTDOWN_(DEADLINE|ESCALATION)_MS/);
});

test(
  'a stop that cannot finish ends by the service deadline (exit 124), before supervisord would KILL',
  { timeout: 150_000 },
  async (t) => {
    const dir = makeRoot();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { timings } = await readTimings(dir);
    // The shipped escalation and deadline (no SHUTDOWN_ESCALATION/DEADLINE_MS here) and the
    // shipped stopwaitsecs. Only the work is slow: the drain waits for jobs that take a
    // minute each, with a step timeout just below the deadline, so only the deadline can end
    // the stop (the drain is cut to what the deadline leaves).
    const sv = new Supervisord({
      FIXTURE_JOB_MS: '60000',
      SHUTDOWN_STEP_TIMEOUT_MS: '39000',
      FIXTURE_STATS_SCHEDULE: '* * * * * *',
    });
    t.after(() => sv.stop(5_000));
    await sv.output.waitFor('success: app entered RUNNING state', 20_000);
    const appPid = sv.spawnedPids()[0]!;
    await sv.output.waitFor(sv.serviceLine('ready', appPid));
    // A job in the cruncher's hands: what the drain will wait for.
    await sv.output.waitFor(
      (l: FileLine) =>
        l.json?.['pid'] === appPid &&
        l.json['msg'] === 'job stats' &&
        Number(l.json['inFlight']) > 0,
      10_000,
    );

    const termAt = Date.now();
    sv.child.kill('SIGTERM'); // what docker stop sends to the container's first process
    const exit = await sv.waitForExit((timings.grace + 10) * 1000);
    const exitedAfterS = (Date.now() - termAt) / 1000;

    // supervisord passes the TERM on after a moment of its own: the service's clocks (and
    // stopwaitsecs) start when the service gets it, as its 'stop requested' line says.
    const requested = sv.output.lines.find(sv.serviceLine('stop requested', appPid));
    assert.ok(requested, sv.output.tail());
    const requestedAt = Date.parse(String(requested.json?.['time']));
    const after = (l: FileLine | undefined): number => {
      assert.ok(l, sv.output.tail());
      return (Date.parse(String(l.json?.['time'])) - requestedAt) / 1000;
    };
    const escalated = after(
      sv.output.lines.find(
        (l) =>
          l.json?.['pid'] === appPid &&
          String(l.json['msg']).startsWith('shutdown is taking too long'),
      ),
    );
    // The step that could not finish is cut to leave the rest their time, before the deadline.
    const deadlineLine = sv.output.lines.find(
      sv.serviceLine(
        'shutdown step cut short at the deadline; the rest run, and the exit says the deadline',
        appPid,
      ),
    );
    const deadlineAt = after(deadlineLine);
    const complete = sv.output.lines.find(sv.serviceLine('shutdown complete', appPid));
    const stopped = sv.output.lines.find((l) => /stopped: app \(/.test(l.text));
    assert.ok(stopped, sv.output.tail());
    const stoppedAt = (supervisordTime(stopped) - requestedAt) / 1000;
    console.log(
      `TERM to supervisord -> the service's stop requested ${((requestedAt - termAt) / 1000).toFixed(1)} s; ` +
        `from there: escalation ${escalated.toFixed(1)} s, deadline ${deadlineAt.toFixed(1)} s, ` +
        `supervisord saw the app stop ${stoppedAt.toFixed(1)} s (stopwaitsecs ${timings.stopwait} s); ` +
        `container exit ${exitedAfterS.toFixed(1)} s after TERM (grace ${timings.grace} s)`,
    );

    // Each layer acted at its own time, innermost first, with margins for a busy machine.
    assert.ok(Math.abs(escalated - timings.escalation) < 2, `escalation at ${escalated} s`);
    assert.ok(
      deadlineAt <= timings.deadline && deadlineAt > timings.deadline - 3,
      `cut short at ${deadlineAt} s`,
    );
    assert.equal(complete?.json?.['exitCode'], 124, sv.output.tail());
    assert.ok(after(complete) < timings.deadline, 'the shutdown completed by its own path');
    // supervisord saw the service's own exit code, before its stopwaitsecs ran out: no KILL.
    assert.match(stopped.text, /stopped: app \(exit status 124\)/);
    assert.ok(stoppedAt < timings.stopwait, `app stopped ${stoppedAt} s after TERM`);
    assert.equal(sv.output.lines.filter((l) => /SIGKILL/.test(l.text)).length, 0);
    // And the container was gone before Docker's own KILL (stop_grace_period).
    assert.ok(exitedAfterS < timings.grace, `container exit ${exitedAfterS} s after TERM`);
    assert.notEqual(exit.signal, 'SIGKILL');
  },
);
