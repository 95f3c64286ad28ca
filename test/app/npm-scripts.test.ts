import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitWithin, isAlive, nodeChild, npmRun } from '../helpers/npm-run.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The sample app's npm commands carry a stop the same way: `npm start` with a fault in one of
 * the sample's workers, and `npm run subscribe` (the sample's subscriber). Real npm, real
 * signals.
 */

const serviceEnv = { LOG_PRETTY: 'false', ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*' };

test('a failure during the stop passes through `npm start` as the exit code, 70', async (t) => {
  const run = npmRun(t, ['start'], { ...serviceEnv, FAULT: 'shutdown-throw:stats' });
  const node = await nodeChild(t, run.npm, 'dist/src/app/main.js');
  await run.waitForText('"msg":"ready"');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), ExitCode.APPLICATION_ERROR);
  assert.equal(isAlive(node), false);
});

test('a TERM to `npm run subscribe` stops the subscriber, and npm exits 0', async (t) => {
  const run = npmRun(t, ['subscribe', '--', 'tcp://127.0.0.1:9'], {});
  const node = await nodeChild(t, run.npm, 'dist/src/app/subscribe.js');
  await run.waitForText('subscribed; waiting for results');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), 0);
  assert.equal(isAlive(node), false);
});
