import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  installEarlySignalHandlers,
  takeOverEarlySignals,
} from '../../../src/lib/lifecycle/early-signals.js';

/**
 * The early handlers in this very process (node --test runs each file in a process of its
 * own): a TERM's echo while the modules load is the same stop, remembered as such for the
 * service's handlers (signals.ts), which take a later one for a second stop. Were it taken for
 * a second stop here, this process would exit with 143 and the file fail.
 */

async function send(signal: 'SIGTERM' | 'SIGINT'): Promise<void> {
  const arrived = once(process, signal);
  process.kill(process.pid, signal);
  await arrived;
}

test("a TERM's echo before the take-over is the same stop, handed over as echoed", async () => {
  installEarlySignalHandlers();
  await send('SIGTERM');
  await send('SIGTERM');
  const seen = takeOverEarlySignals();
  assert.equal(seen.stop?.signal, 'SIGTERM');
  assert.equal(seen.stop.echoed, true);
  assert.ok(performance.now() - seen.stop.at < 5_000, 'when it came');
});
