import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/** FAULT=main-stall:MS on the built service: a stall of the main thread is not a hung worker. */

test('FAULT=main-stall:3000 with 1 s heartbeats kills no worker; the stall is logged as such', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ HEARTBEAT_MS: '1000', FAULT: 'main-stall:3000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const stall = await service.waitFor('main thread stalled', 15_000);
  assert.equal(stall.level, 'warn');
  assert.ok(Number(stall['stalledMs']) >= 2_500, `stalledMs ${String(stall['stalledMs'])}`);
  // Two heartbeats with the main thread awake again: every worker still runs.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.equal(service.isAlive, true, service.tail());
  assert.equal(
    service.lines.find((l) => l.msg === 'shutdown started'),
    undefined,
    service.tail(),
  );
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});
