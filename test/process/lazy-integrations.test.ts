import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { amqpSettings, createVhost, type TestVhost } from '../helpers/broker.js';

/**
 * The main thread loads an integration's client only when it is configured: without AMQP_URL
 * the service reaches `ready` without loading amqplib (docs/performance.md, start-up). A
 * preload reports the first amqplib module any thread loads (test/fixtures/module-watch.ts).
 */

const watch = fileURLToPath(new URL('../fixtures/module-watch.js', import.meta.url));
const services: ServiceProcess[] = [];
let vhost: TestVhost | undefined;

function start(env: Record<string, string>): ServiceProcess {
  const service = new ServiceProcess({
    env: testEnv({ NODE_OPTIONS: `--import=${watch}`, ...env }),
  });
  services.push(service);
  return service;
}

before(async () => {
  vhost = await createVhost('lazy-integrations');
});
after(async () => {
  for (const service of services) await service.stop();
  await vhost?.remove();
});

describe('integrations load only when configured', { timeout: 60_000 }, () => {
  test('without AMQP_URL the service is ready and has not loaded amqplib', async () => {
    const service = start({});
    await service.waitFor('ready', 20_000);
    await service.stop();
    assert.ok(
      !service.stderr.some((l) => l.includes('module-watch amqplib')),
      service.stderr.join('\n'),
    );
  });

  test('with AMQP_URL it loads amqplib and consumes (the watch sees it)', async () => {
    const service = start(amqpSettings(vhost!.url));
    await service.waitFor('ready', 20_000);
    await service.stop();
    assert.ok(
      service.stderr.some((l) => l.includes('module-watch amqplib')),
      service.stderr.join('\n'),
    );
  });
});
