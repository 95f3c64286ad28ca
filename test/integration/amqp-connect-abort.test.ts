import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpClient } from '../../src/lib/amqp/amqp-client.js';
import { captureLog } from '../helpers/capture-log.js';
import { createVhost, type TestVhost } from '../helpers/broker.js';

/** A connect asked for once shutdown began is refused, against the real RabbitMQ. */

let vhost: TestVhost;
before(async () => {
  vhost = await createVhost('amqp-connect-abort');
});
after(async () => {
  await vhost.remove();
});

test('connect() with an already-aborted signal rejects at once and never connects', async (t) => {
  const { log } = captureLog('info');
  const lost: unknown[] = [];
  const client = new AmqpClient({
    url: vhost.url,
    connectionName: 'connect-abort test',
    heartbeatS: 5,
    connectTimeoutMs: 10_000,
    log,
    onLost: (error) => void lost.push(error),
  });
  t.after(() => client.close());
  const controller = new AbortController();
  const reason = new Error('stop requested: SIGTERM');
  controller.abort(reason);
  // Before, the abort listener never fired for a signal aborted already: it connected.
  await assert.rejects(client.connect(controller.signal), (error: Error) => {
    assert.equal((error as { code?: string }).code, 'E_DEPENDENCY');
    assert.equal(error.cause, reason);
    return true;
  });
  assert.equal(client.isConnected, false);
  assert.deepEqual(lost, []);
});
