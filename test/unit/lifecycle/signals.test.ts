import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import inspector from 'node:inspector';
import {
  installEarlySignalHandlers,
  isStopEcho,
  stopEchoWindowMs,
  type FirstStop,
} from '../../../src/lib/lifecycle/early-signals.js';
import { installSignalHandlers } from '../../../src/lib/lifecycle/signals.js';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { captureLog } from '../../helpers/capture-log.js';
import { DependencyError } from '../../../src/lib/primitives/errors.js';

/**
 * USR1 in this very process (node --test runs each file in a process of its own): the early
 * handler counts it, the service's handlers replay it, and Node's own action (the inspector)
 * never runs. test/process/main-stall.test.ts sends it to the built service.
 */

/** Sends USR1 (or USR2) to this process; resolves once every listener so far has run. */
async function usr1(signal: 'SIGUSR1' | 'SIGUSR2' = 'SIGUSR1'): Promise<void> {
  const arrived = once(process, signal);
  process.kill(process.pid, signal);
  await arrived;
}

test('a USR1 or USR2 before the take-over is replayed as a warning (duringLoad), a later one logged at once; no inspector opens, nothing stops', async (t) => {
  // USR2's default action ended the process at once (140), no shutdown step, no line.
  // node --test turns on diagnostic reports on USR2 in its test processes: not in the repo.
  const reportOnSignal = process.report.reportOnSignal;
  process.report.reportOnSignal = false;
  t.after(() => {
    process.report.reportOnSignal = reportOnSignal;
  });
  installEarlySignalHandlers();
  await usr1();
  await usr1('SIGUSR2');
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
  const ignored2 = () =>
    lines.filter((l) => l.msg === 'SIGUSR2 ignored: the service stops on TERM or INT');
  assert.deepEqual(
    ignored2().map((l) => [l.level, l['duringLoad']]),
    [['warn', true]],
  );
  await usr1('SIGUSR2');
  assert.deepEqual(
    ignored2().map((l) => l['duringLoad']),
    [true, undefined],
  );
  assert.equal(inspector.url(), undefined);
  assert.equal(coordinator.isShuttingDown, false);
});

/** Sends `signal` to this process; resolves once every listener installed so far has run. */
async function send(signal: 'SIGTERM' | 'SIGINT'): Promise<void> {
  const arrived = once(process, signal);
  process.kill(process.pid, signal);
  await arrived;
}

/** The service's handlers on a coordinator of their own, with the exits they asked for. */
function handled(t: TestContext) {
  const { log, lines } = captureLog();
  const coordinator = new ShutdownCoordinator({
    log,
    escalationMs: 5_000,
    deadlineMs: 10_000,
    stepTimeoutMs: 200,
    exit: () => assert.fail('the deadline is not reached'),
  });
  t.after(() => coordinator[Symbol.dispose]());
  const exits: number[] = [];
  const remove = installSignalHandlers({
    coordinator,
    log,
    toggleDebug: () => undefined,
    inspectorOnUsr1: false,
    flush: () => undefined,
    exit: (code) => exits.push(code),
  });
  t.after(remove);
  return { lines, coordinator, exits, remove };
}

test("the first TERM during a shutdown begun otherwise (a failure, the code's requestStop) lets it go on; the second forces the exit", async (t) => {
  // The supervisor's one TERM during a failure's shutdown was taken for a second signal: the
  // steps were cut short and the failure's exit code (69) replaced with 143.
  for (const begin of ['failure', 'requestStop'] as const) {
    const { lines, coordinator, exits, remove } = handled(t);
    if (begin === 'failure') coordinator.die(new DependencyError('fixture', 'went away'));
    else coordinator.requestStop('the code is done');
    await send('SIGTERM');
    assert.deepEqual(exits, [], `${begin}: the first TERM forces nothing`);
    const noted = lines.find((l) => l.msg === 'stop requested; the shutdown is already under way');
    assert.equal(noted?.['reason'], begin === 'failure' ? 'failure' : 'the code is done');
    assert.equal(await coordinator.done, begin === 'failure' ? 69 : 0, 'its own exit code');
    // Within a second of the first, the second is its echo (the next test); the next forces.
    await send('SIGTERM');
    assert.deepEqual(exits, [], `${begin}: the first TERM's echo forces nothing`);
    await send('SIGTERM');
    assert.deepEqual(exits, [143], `${begin}: the second TERM forces the exit`);
    remove();
  }
});

test("a stop signal's echo (the same one again within a second, once) is the same stop; a third, or another signal, forces the exit", async (t) => {
  // Ctrl-C on `npm start` delivers INT twice, from the terminal and from npm (npm/cli#5021),
  // and GNU timeout its TERM twice: taken for a second stop, each forced the exit (130, 143).
  for (const [second, third, forced] of [
    ['SIGTERM', 'SIGTERM', [143]],
    ['SIGINT', 'SIGINT', [130]],
    ['SIGINT', undefined, [130]],
  ] as const) {
    const { lines, coordinator, exits, remove } = handled(t);
    const first = second === 'SIGINT' && third === undefined ? 'SIGTERM' : second;
    await send(first);
    await send(second);
    if (third !== undefined) {
      assert.deepEqual(exits, [], `${second} again: the same stop`);
      assert.deepEqual(
        lines.filter((l) => l.msg === 'stop signal again within a second: the same stop').length,
        1,
      );
      await send(third);
    }
    assert.deepEqual(exits, forced, `${first}, ${second}, ${third ?? '-'}`);
    assert.equal(await coordinator.done, 0, 'the stop went on');
    remove();
  }
});

test('an echo is the same signal, within stopEchoWindowMs of the first, and one only', () => {
  const first = (): FirstStop => ({ signal: 'SIGTERM', at: 1_000, echoed: false });
  assert.equal(isStopEcho(first(), 'SIGTERM', 1_000 + stopEchoWindowMs), true);
  assert.equal(isStopEcho(first(), 'SIGTERM', 1_001 + stopEchoWindowMs), false, 'too late');
  assert.equal(isStopEcho(first(), 'SIGINT', 1_010), false, 'another signal');
  const once = first();
  assert.equal(isStopEcho(once, 'SIGTERM', 1_010), true);
  assert.equal(isStopEcho(once, 'SIGTERM', 1_020), false, 'one echo only');
});
