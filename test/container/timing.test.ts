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
import { makeRoot, repoDir } from '../helpers/supervisord.js';

/**
 * The stop timings nest, outermost first, or a layer kills the one inside it before it can
 * finish: compose stop_grace_period (Docker's KILL) > supervisord stopwaitsecs (its KILL) >
 * the service's hard deadline > its debug escalation. Read from the files that set them.
 */

function seconds(duration: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  assert.ok(m, `a compose duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
}

test('stop_grace_period > stopwaitsecs > shutdown deadline > escalation, with margins', async (t) => {
  const dir = makeRoot();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, '.env'), 'APP_ENV=production\n');
  const out = join(dir, 'docker-compose.yml');
  const rendered = await renderCompose({}, join(dir, '.env'), out);
  assert.equal(rendered.code, 0, rendered.stderr);
  const compose = readYaml(out) as { services: { app: { stop_grace_period: string } } };
  const grace = seconds(compose.services.app.stop_grace_period);

  const stopwait = Number(readSupervisordConf().get('program:app')?.get('stopwaitsecs'));
  const defaults = JSON.parse(readFileSync(join(repoDir, 'config', 'default.json'), 'utf8')) as {
    shutdown: { deadlineMs: number; escalationMs: number };
  };
  const deadline = defaults.shutdown.deadlineMs / 1000;
  const escalation = defaults.shutdown.escalationMs / 1000;
  console.log(
    `stop timings: grace ${grace} s > stopwaitsecs ${stopwait} s > deadline ${deadline} s > escalation ${escalation} s`,
  );
  assert.deepEqual([grace, stopwait, deadline, escalation], [60, 45, 40, 30]);
  // supervisord adds a few seconds of its own to a stop: keep at least 5 s between layers.
  assert.ok(grace - stopwait >= 5 && stopwait - deadline >= 5 && deadline > escalation);

  // Nothing in the image or the compose file overrides the service's own defaults.
  const imageEnv = readDockerfile()
    .filter((i) => i.keyword === 'ENV')
    .map((i) => i.args)
    .join(' ');
  assert.doesNotMatch(imageEnv, /SHUTDOWN_(DEADLINE|ESCALATION)_MS/);
  assert.doesNotMatch(readFileSync(out, 'utf8'), /SHUTDOWN_(DEADLINE|ESCALATION)_MS/);
});
