import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { layOutRuntimeStage, type ImageLayout } from '../helpers/image-layout.js';
import { makeRoot, Supervisord } from '../helpers/supervisord.js';

/**
 * The image's runtime stage, laid out from the Dockerfile's own COPY, `npm ci --omit=dev` and
 * ENV instructions under a temporary root, then started through its entrypoint: proves the
 * copied files and the production dependencies are enough to run the service, and that the
 * image's ENV covers what entrypoint.sh and supervisord.conf need.
 */

describe('the Dockerfile runtime stage, laid out without Docker', { timeout: 120_000 }, () => {
  const root = makeRoot();
  let layout: ImageLayout;
  let sv: Supervisord | undefined;

  before(async () => {
    layout = await layOutRuntimeStage(root);
    console.log(`image layout at ${layout.root}; not run here: ${layout.skipped.join(' | ')}`);
  });
  after(async () => {
    await sv?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('holds production dependencies only', () => {
    const modules = join(layout.env['APP_DIR']!, 'node_modules');
    assert.ok(existsSync(join(modules, 'pino')) && existsSync(join(modules, 'zeromq')));
    for (const dev of ['typescript', 'eslint', 'prettier', 'yaml']) {
      assert.equal(existsSync(join(modules, dev)), false, `${dev} is a dev dependency`);
    }
    assert.equal(existsSync(join(layout.env['APP_DIR']!, 'src')), false, 'no TypeScript sources');
  });

  test('its entrypoint starts supervisord, which runs the service to ready', async () => {
    sv = new Supervisord(layout.env, layout.entrypoint);
    await sv.output.waitFor('success: app entered RUNNING state');
    const pid = sv.spawnedPids()[0]!;
    const starting = await sv.output.waitFor(sv.serviceLine('starting', pid));
    assert.equal(
      starting.json?.['version'],
      '0.0.0-dev+unknown',
      'APP_VERSION from the VERSION and COMMIT build args',
    );
    await sv.output.waitFor(sv.serviceLine('ready', pid));
    const stop = await sv.supervisorctl('stop', 'app');
    assert.match(stop.stdout, /app: stopped/);
    await sv.output.waitFor('stopped: app (exit status 0)');
  });
});
