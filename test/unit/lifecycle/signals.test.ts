import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import inspector from 'node:inspector';
import { installEarlySignalHandlers } from '../../../src/lib/lifecycle/early-signals.js';
import { installSignalHandlers } from '../../../src/lib/lifecycle/signals.js';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { captureLog } from '../../helpers/capture-log.js';

/**
 * USR1 in this very process (node --test runs each file in a process of its own): the early
 * handler counts it, the service's handlers replay it, and Node's own action (the inspector)
 * never runs. test/process/main-stall.test.ts sends it to the built service.
 */

/** Sends USR1 to this process; resolves once every listener installed so far has run. */
async function usr1(): Promise<void> {
  const arrived = once(process, 'SIGUSR1');
  process.kill(process.pid, 'SIGUSR1');
  await arrived;
}

test('a USR1 before the take-over is replayed as a warning (duringLoad), a later one logged at once; no inspector opens', async (t) => {
  installEarlySignalHandlers();
  await usr1();
  const { log, lines } = captureLog();
  const coordinator = new ShutdownCoordinator({
    log,
    escalationMs: 5_000,
    deadlineMs: 10_000,
    stepTimeoutMs: 200,
  });
  const remove = installSignalHandlers({
    coordinator,
    log,
    toggleDebug: () => assert.fail('no HUP was sent'),
    inspectorOnUsr1: false,
    flush: () => undefined,
  });
  t.after(remove);
  const ignored = () => lines.filter((l) => (l.msg ?? '').startsWith('SIGUSR1 ignored'));
  assert.deepEqual(
    ignored().map((l) => [l.level, l['duringLoad']]),
    [['warn', true]],
  );
  await usr1();
  assert.deepEqual(
    ignored().map((l) => l['duringLoad']),
    [true, undefined],
  );
  assert.equal(inspector.url(), undefined);
  assert.equal(coordinator.isShuttingDown, false);
});
