import assert from 'node:assert/strict';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { amqpSettings, createVhost, type TestVhost } from '../helpers/broker.js';

/**
 * The main thread loads an integration's client only when it is configured: without AMQP_URL
 * the service reaches `ready` without loading amqplib (docs/performance.md, start-up). A
 * preload reports the first amqplib module any thread loads (test/fixtures/module-watch.ts).
 * Nor does any thread pay for what an ESM import of node:http or node:crypto loads (the lint
 * rule in eslint.config.js, docs/performance.md): the same preload reports, as each thread
 * exits, whether it loaded undici (node:http's) or webcrypto (node:crypto's). And a worker
 * thread's logger is not pino (line-logger.ts writes the same lines): only main loads it.
 */

const watch = fileURLToPath(new URL('../fixtures/module-watch.js', import.meta.url));
const services: ServiceProcess[] = [];
let vhost: TestVhost | undefined;

/** Runs the idle sample to a clean stop; the watch's per-thread lines, as they came. */
async function threadReports(): Promise<string[]> {
  const service = start({});
  await service.waitFor('ready', 20_000);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit(20_000)).code, 0);
  const stderr = service.child.stderr!;
  if (!stderr.closed) await once(stderr, 'close');
  return service.stderr.filter((line) => line.startsWith('module-watch thread '));
}

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

  test("no thread loads node:http's undici or node:crypto's webcrypto", async () => {
    const lines = await threadReports();
    const reports = new Map<number, string[]>();
    for (const line of lines) {
      const match = /^module-watch thread (\d+) internals (.*)$/.exec(line);
      if (match) reports.set(Number(match[1]), (match[2] ?? '').split(',').filter(Boolean));
    }
    // main and at least one worker thread reported
    assert.ok(reports.has(0) && reports.size >= 2, lines.join('\n'));
    for (const [thread, internals] of reports) {
      assert.ok(
        !internals.some((n) => n.includes('undici')),
        `thread ${thread}: ${internals.join(',')}`,
      );
      // node-cron's ES build imports node:crypto; the scheduler requires its CommonJS build
      assert.deepEqual(internals, [], `thread ${thread}`);
    }
  });

  test('only the main thread loads pino; none of the three worker threads does', async () => {
    const lines = await threadReports();
    const pino = new Map<number, string>();
    for (const line of lines) {
      const match = /^module-watch thread (\d+) pino (yes|no)$/.exec(line);
      if (match) pino.set(Number(match[1]), match[2] ?? '');
    }
    assert.equal(pino.get(0), 'yes', lines.join('\n'));
    const workers = [...pino].filter(([thread]) => thread !== 0);
    assert.equal(workers.length, 3, lines.join('\n'));
    for (const [thread, loaded] of workers) assert.equal(loaded, 'no', `worker thread ${thread}`);
  });
});
