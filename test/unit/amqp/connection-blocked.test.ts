import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { BlockedConnection } from '../../../src/lib/amqp/connection-blocked.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import { captureLog } from '../../helpers/capture-log.js';

/** The blocked-connection state; the real broker's alarm is in test/serial/amqp-resource-alarm. */

describe('BlockedConnection', () => {
  test('a block makes readiness false with the reason and logs one warning; an unblock restores it', () => {
    const { log, lines } = captureLog('info');
    const blocked = new BlockedConnection({ timeoutMs: 60_000, log });
    assert.deepEqual(blocked.readiness(), { ok: true, detail: { blocked: false } });
    blocked.block('low on memory');
    blocked.block('low on memory');
    const check = blocked.readiness();
    assert.equal(check.ok, false);
    assert.match(JSON.stringify(check.detail), /"blocked":true,"reason":"low on memory"/);
    assert.equal(lines.filter((l) => l['level'] === 'warn').length, 1, 'one warning');
    blocked.unblock();
    assert.equal(blocked.readiness().ok, true);
    assert.equal(blocked.timedOut, undefined);
  });

  test('a block that lasts the timeout fails waiting publishes with a dependency failure, until the unblock', async () => {
    const { log } = captureLog('info');
    const blocked = new BlockedConnection({ timeoutMs: 50, log });
    const failed: unknown[] = [];
    const first = new Promise((resolve) => blocked.onTimeout(resolve));
    blocked.onTimeout((error) => failed.push(error));
    const started = performance.now();
    blocked.block('low on disk');
    assert.equal(blocked.timedOut, undefined, 'not before the timeout');
    await first;
    assert.ok(performance.now() - started >= 45, 'after the timeout');
    assert.equal(failed.length, 1);
    assert.equal(classify(failed[0]), 'dependency');
    assert.equal(blocked.timedOut, failed[0], 'new publishes fail at once');
    blocked.unblock();
    assert.equal(blocked.timedOut, undefined);
    // An unblock before the timeout cancels it (waiting well past it shows nothing fires).
    blocked.block('low on disk');
    blocked.unblock();
    await delay(200);
    assert.equal(failed.length, 1);
  });
});
