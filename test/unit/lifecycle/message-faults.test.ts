import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFaults } from '../../../src/lib/lifecycle/faults.js';
import { testConfig } from '../../helpers/core.js';
import { ErrorCodes } from '../../../src/lib/primitives/errors.js';
import type { EchoContract } from '../../fixtures/workers/echo.worker.js';
import { echo, nannyHarness } from '../../helpers/nanny-harness.js';

test('FAULT takes crash-on:TEXT and hang-on:TEXT, alone or in a comma-separated list', () => {
  assert.deepEqual(parseFaults(''), []);
  assert.deepEqual(parseFaults('crash-on:POISON PILL'), [
    { kind: 'crash-on', text: 'POISON PILL' },
  ]);
  assert.deepEqual(parseFaults('hang-on:x:y,worker-exit:tally'), [
    { kind: 'hang-on', text: 'x:y' },
    { kind: 'worker-exit', worker: 'tally' },
  ]);
  assert.throws(() => parseFaults('crash-on:'), /unknown fault/);
  assert.deepEqual(parseFaults('shutdown-stall:30000,main-stall:500'), [
    { kind: 'shutdown-stall', ms: 30000 },
    { kind: 'main-stall', ms: 500 },
  ]);
  assert.deepEqual(parseFaults('main-exit:0,main-exit:255'), [
    { kind: 'main-exit', code: 0 },
    { kind: 'main-exit', code: 255 },
  ]);
  for (const bad of ['main-exit:256', 'main-exit:-1', 'main-exit:', 'main-exit:007']) {
    assert.throws(() => testConfig({ FAULT: bad }), /FAULT/, bad);
  }
  assert.equal(
    testConfig({ FAULT: 'crash-on:pill,hang-on:stuck' }).fault,
    'crash-on:pill,hang-on:stuck',
  );
  assert.throws(() => testConfig({ FAULT: 'crash-on:pill,' }), /FAULT/);
  assert.throws(() => testConfig({ FAULT: 'crash-on' }), /FAULT/);
});

test(
  'hang-on:TEXT strikes in any worker serving a request that holds TEXT, with no call from the worker',
  { timeout: 30_000 },
  async (t) => {
    const { nanny, firstDeath } = nannyHarness({ FAULT: 'hang-on:POISON', HEARTBEAT_MS: '200' });
    t.after(() => nanny.stopAll(2_000));
    // The echo fixture knows nothing of faults: the core's worker side runs the drill.
    nanny.add(echo('echo'));
    await nanny.start();
    const channel = nanny.channel('echo').as<EchoContract>();
    const answer = await channel.request({ op: 'echo', value: { text: 'harmless' } });
    assert.deepEqual(answer.value, { text: 'harmless' });
    // TEXT in a nested string field of the request.
    channel.request({ op: 'echo', value: { list: ['a POISON pill'] } }).catch(() => undefined);
    const cause = await firstDeath;
    assert.equal((cause as { code?: string }).code, ErrorCodes.WORKER_HUNG);
    assert.match(cause.message, /worker echo is hung/);
  },
);
