import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';

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
