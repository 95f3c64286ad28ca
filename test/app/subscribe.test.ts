import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';
import { captureLog } from '../helpers/capture-log.js';
import { SocketRegistry } from '../../src/lib/zmq/socket-registry.js';

const subscribeScript = fileURLToPath(new URL('../../src/app/subscribe.js', import.meta.url));

after(() => {
  for (const p of ServiceProcess.spawned)
    assert.equal(p.isAlive, false, `process ${p.pid} left behind`);
});

test('the subscribe command prints each result the service publishes, with its correlation id', async (t) => {
  const service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({ SAMPLE_EVENT_INTERVAL_MS: '20' }),
  });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready');
  const subscriber = new ServiceProcess({
    script: subscribeScript,
    args: [String(ready['zmqEndpoint'])],
    env: {},
  });
  t.after(() => subscriber.stop());
  const line = await subscriber.waitFor((l) => typeof l['correlationId'] === 'string');
  const result = line['result'] as { eventId: string; digest: string; processedBy: string };
  assert.match(result.digest, /^[0-9a-f]{64}$/);
  assert.equal(result.processedBy, 'processor');
  // The same correlation id is on the service's log line for that event.
  await service.waitFor(
    (l) =>
      l.msg === 'event processed' &&
      l['eventId'] === result.eventId &&
      l['correlationId'] === line['correlationId'],
  );
  subscriber.signal('SIGTERM');
  service.signal('SIGTERM');
  assert.equal((await subscriber.waitForExit()).code, 0);
  assert.equal((await service.waitForExit()).code, 0);
});

/**
 * A publisher of the test's own on a free port, sending `frames` every 20 ms (a new
 * subscriber's subscription takes a moment to reach it) until `stop()`.
 */
async function publishing(frames: () => string[]): Promise<{ endpoint: string; stop: () => void }> {
  const log = captureLog('info').log;
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  const socket = await zmq.open('pub', 'test-publisher');
  const endpoint = await socket.bind('tcp://127.0.0.1:*');
  const timer = setInterval(() => void socket.send(frames()).catch(() => undefined), 20);
  return {
    endpoint,
    stop: () => {
      clearInterval(timer);
      zmq.closeAll();
    },
  };
}

/** The subscribe command, subscribed to a publisher of the test's own sending `frames`. */
async function subscribedTo(t: TestContext, frames: () => string[]): Promise<ServiceProcess> {
  const publisher = await publishing(frames);
  t.after(() => publisher.stop());
  const subscriber = new ServiceProcess({
    script: subscribeScript,
    args: [publisher.endpoint],
    env: {},
  });
  t.after(() => subscriber.stop());
  return subscriber;
}

test('a result that is not JSON is printed as its text, and the subscriber goes on', async (t) => {
  let n = 0;
  const subscriber = await subscribedTo(t, () => {
    n += 1;
    return ['results', `c-${n}`, n % 2 === 0 ? '{"ok":true}' : 'not {json', ''];
  });
  const text = await subscriber.waitFor((l) => l['text'] === 'not {json');
  assert.equal(typeof text['correlationId'], 'string');
  await subscriber.waitFor((l) => (l['result'] as { ok?: boolean } | undefined)?.ok === true);
  subscriber.signal('SIGTERM');
  assert.equal((await subscriber.waitForExit()).code, 0, subscriber.tail());
});

test('its reader gone (`npm run subscribe | head`), the subscriber stops quietly with 0', async (t) => {
  const subscriber = await subscribedTo(t, () => ['results', 'c', '{"ok":true}', '']);
  await subscriber.waitFor((l) => typeof l['correlationId'] === 'string');
  subscriber.child.stdout!.destroy();
  assert.equal((await subscriber.waitForExit()).code, 0, subscriber.stderr.join('\n'));
  assert.ok(!subscriber.stderr.some((l) => /EPIPE|Error/.test(l)), subscriber.stderr.join('\n'));
});

test('an endpoint that is no ZeroMQ endpoint is refused with 78 and a line saying so, not a stack', async (t) => {
  for (const endpoint of ['garbage', 'tcp://127.0.0.1:99999']) {
    const subscriber = new ServiceProcess({ script: subscribeScript, args: [endpoint], env: {} });
    t.after(() => subscriber.stop());
    assert.equal((await subscriber.waitForExit()).code, 78, endpoint);
    const line = subscriber.stderr.map((text) => JSON.parse(text) as Record<string, unknown>)[0];
    assert.equal(line?.['msg'], 'not a ZeroMQ endpoint; nothing subscribed');
    assert.equal(line?.['endpoint'], endpoint);
  }
});

test('a result nested thousands deep is printed as its text, and the subscriber goes on', async (t) => {
  // JSON.stringify overflowed the stack on a 10 KB result: a RangeError, exit 1.
  const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
  let n = 0;
  const subscriber = await subscribedTo(t, () => {
    n += 1;
    return ['results', `c-${n}`, n % 2 === 0 ? '{"ok":true}' : deep, ''];
  });
  await subscriber.waitFor((l) => l['text'] === deep);
  await subscriber.waitFor((l) => (l['result'] as { ok?: boolean } | undefined)?.ok === true);
  subscriber.signal('SIGTERM');
  assert.equal((await subscriber.waitForExit()).code, 0, subscriber.tail());
});

test('its reader stalled, a TERM still ends the subscriber within a second or so', async (t) => {
  // It stayed alive, doing nothing, for as long as the reader stalled (27 s measured), and
  // what stdout held grew with every result (80 -> 941 MB).
  const chunk = 'x'.repeat(64 * 1024);
  let sent = 0;
  let sentEnough: () => void = () => undefined;
  const subscriber = await subscribedTo(t, () => {
    if (++sent === 50) sentEnough();
    return ['results', 'c', JSON.stringify({ chunk }), ''];
  });
  await subscriber.waitFor((l) => typeof l['correlationId'] === 'string');
  subscriber.child.stdout!.pause();
  // The pipe holds 64 KiB, a result and a bit: 50 of them sent (3 MiB) fill it for sure.
  await new Promise<void>((resolve) => {
    sentEnough = resolve;
    if (sent >= 50) resolve();
  });
  const sentAt = performance.now();
  subscriber.signal('SIGTERM');
  const { code } = await subscriber.waitForExit(10_000);
  assert.equal(code, 0);
  assert.ok(performance.now() - sentAt < 5_000, `${Math.round(performance.now() - sentAt)} ms`);
});

test('an endpoint a subscriber cannot connect to (* host or port, port 0, inproc) is refused with 78', async (t) => {
  // The first two threw zeromq's bare "Invalid argument" with a stack; the others waited for ever.
  for (const endpoint of ['tcp://*:5556', 'tcp://127.0.0.1:*', 'tcp://127.0.0.1:0', 'inproc://x']) {
    const subscriber = new ServiceProcess({ script: subscribeScript, args: [endpoint], env: {} });
    t.after(() => subscriber.stop());
    assert.equal((await subscriber.waitForExit()).code, 78, endpoint);
    const line = subscriber.stderr.map((text) => JSON.parse(text) as Record<string, unknown>)[0];
    assert.equal(line?.['msg'], 'not an endpoint to connect to; nothing subscribed', endpoint);
    assert.equal(line?.['endpoint'], endpoint);
  }
});
