import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { freePort, HttpRecorder } from '../helpers/http-recorder.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { BrokerObserver, rabbitmqctl } from '../helpers/broker.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * Secrets on every exit path of the real service, read on stdout AND stderr (where a config
 * error goes): a config error, a dependency failure at start, and a run at trace level with
 * every integration configured. Each secret holds / @ " % a space and non-ASCII letters.
 */

/** A secret with every odd character, ending in a marker of its own. */
const secretFor = (tag: string): string => `Pa/ss@w"rd% 1 ünï ${tag}Q9`;

/** Every form in which a piece of a secret could show: raw, JSON-escaped, percent-encoded. */
function leaks(output: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    const marker = secret.slice(secret.lastIndexOf(' ') + 1);
    const forms = [
      secret,
      JSON.stringify(secret).slice(1, -1),
      encodeURIComponent(secret),
      marker,
      'Pa/ss',
      'Pa%2Fss',
      'ünï',
      '%C3%BCn',
      'w\\"rd',
    ];
    for (const form of forms) if (output.includes(form)) found.push(form);
  }
  return [...new Set(found)];
}

function allOutput(service: ServiceProcess): string {
  return [...service.lines.map((l) => JSON.stringify(l)), ...service.stderr].join('\n');
}

describe('secrets never printed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  const services: ServiceProcess[] = [];
  const start = (env: Record<string, string>): ServiceProcess => {
    const service = new ServiceProcess({ env: testEnv(env) });
    services.push(service);
    return service;
  };
  after(async () => {
    for (const s of services) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a config error: the AMQP_URL_FILE value (a blank line after it) shows masked, on stderr and stdout', async () => {
    const secret = secretFor('cfg');
    const file = join(dir, 'amqp-url');
    // Unencoded, the password makes the URL invalid (the space): the error quotes the key.
    writeFileSync(file, `amqp://svc:${secret}@broker.example/\n\n`);
    const token = secretFor('tok');
    const service = start({ AMQP_URL_FILE: file, INFLUX_TOKEN: token, HEARTBEAT_MS: '-5' });
    const { code } = await service.waitForExit();
    assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
    const output = allOutput(service);
    assert.match(output, /amqp\.url \(environment AMQP_URL_FILE\) = \[Redacted\] \(secret\)/);
    assert.deepEqual(leaks(output, [secret, token]), [], output);
  });

  test('a config error with a valid secret URL and a bad value elsewhere prints no secret', async () => {
    const secret = secretFor('cfg2');
    const file = join(dir, 'amqp-url-2');
    writeFileSync(file, `amqp://svc:${encodeURIComponent(secret)}@broker.example/\r\n`);
    const dsnKey = `k${randomUUID().replaceAll('-', '')}`;
    const service = start({
      AMQP_URL_FILE: file,
      SENTRY_DSN: `https://${dsnKey}@sentry.example/not-a-number`,
      AMQP_PREFETCH: '0',
    });
    const { code } = await service.waitForExit();
    assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
    const output = allOutput(service);
    assert.match(output, /https:\/\/\[Redacted\]@sentry\.example/);
    assert.deepEqual(leaks(output, [secret]), [], output);
    assert.ok(!output.includes(dsnKey), output);
  });

  test('a dependency failure at start (refused connection) prints no secret', async () => {
    const secret = secretFor('dep');
    const service = start({
      AMQP_URL: `amqp://svc:${encodeURIComponent(secret)}@127.0.0.1:1/`,
      AMQP_CONNECT_TIMEOUT_MS: '2000',
    });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, ExitCode.DEPENDENCY_FAILURE, service.tail());
    const output = allOutput(service);
    assert.match(output, /amqp:\/\/svc:(\[Redacted\]|\*\*\*)@127\.0\.0\.1:1/);
    assert.deepEqual(leaks(output, [secret]), [], output);
  });

  test('an unencoded password (amqp://svc:pa/ss@host/, the URL does not parse) is a config error and prints no secret', async () => {
    // No space (the config would refuse it): / @ " % and non-ASCII, unencoded.
    const secret = 'Pa/ss@w"rd%ünïrawQ9';
    const service = start({ AMQP_URL: `amqp://svc:${secret}@127.0.0.1:1/` });
    const { code } = await service.waitForExit(20_000);
    // Before, new URL() threw at connect: exit 70, with the raw URL in the error's 'input'.
    assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
    const output = allOutput(service);
    assert.deepEqual(leaks(output, [secret]), [], output);
  });

  test('a dependency failure at start (credentials refused by the real broker) prints no secret', async () => {
    const secret = secretFor('refused');
    const service = start({
      AMQP_URL: `amqp://guest:${encodeURIComponent(secret)}@127.0.0.1:5672/`,
    });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, ExitCode.DEPENDENCY_FAILURE, service.tail());
    const output = allOutput(service);
    assert.match(output, /ACCESS.REFUSED/);
    assert.deepEqual(leaks(output, [secret]), [], output);
  });

  describe('at trace level with every integration configured', () => {
    const sentry = new SentryRecorder();
    const influx = new HttpRecorder('ok');
    const cronitor = new HttpRecorder('ok');
    const user = `svc-${randomUUID()}`;
    const vhost = `secrets-${randomUUID()}`;
    // Every odd character, non-ASCII letters too: amqplib 2.3 decodes a URL's password with
    // unescape() (Latin-1), so before the client passed its own credentials this one could
    // never log in (exit 69, ACCESS_REFUSED).
    const password = 'Pa/ss@w"rd% 1 ünï amqpQ9';
    let brokerReady: string | undefined;
    before(async () => {
      await Promise.all([sentry.start(), influx.start(), cronitor.start()]);
      try {
        await rabbitmqctl('add_vhost', vhost);
        await rabbitmqctl('add_user', user, password);
        await rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
        brokerReady = `amqp://${user}:${encodeURIComponent(password)}@127.0.0.1:5672/${encodeURIComponent(vhost)}`;
      } catch (error) {
        console.log(`cannot make a RabbitMQ user and vhost with rabbitmqctl: ${String(error)}`);
      }
    });
    after(async () => {
      await rabbitmqctl('delete_user', user).catch(() => undefined);
      await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
      await Promise.all([sentry.close(), influx.close(), cronitor.close()]);
    });

    test('a run from start to TERM prints no secret on stdout or stderr', async () => {
      assert.ok(brokerReady, 'the broker user and vhost could not be made');
      const secrets = {
        influxToken: secretFor('influx'),
        cronitorKey: secretFor('cronitor'),
      };
      const dsnKey = `k${randomUUID().replaceAll('-', '')}`;
      const service = start({
        LOG_LEVEL: 'trace',
        AMQP_URL: brokerReady,
        SENTRY_DSN: `http://${dsnKey}@127.0.0.1:${sentry.port}/1`,
        INFLUX_URL: influx.baseUrl,
        INFLUX_TOKEN: secrets.influxToken,
        INFLUX_ORG: 'test',
        INFLUX_BUCKET: 'test',
        INFLUX_FLUSH_INTERVAL_MS: '100',
        CRONITOR_API_KEY: secrets.cronitorKey,
        CRONITOR_PING_URL: `${cronitor.baseUrl}/ping`,
        THREAD_REPORT_INTERVAL_MS: '200',
        HEALTH_PORT: String(await freePort()),
      });
      const ready = await service.waitFor('ready', 20_000);
      // Some traffic through each integration before the stop: a job through the broker and
      // the worker threads, pings, metrics. (The sample's notifier URL: test/app/secrets.test.ts.)
      const observer = await BrokerObserver.open(brokerReady);
      const jobId = `one job through everything ${randomUUID()}`;
      try {
        await observer.publish(String(ready['inputQueue']), [jobId]);
      } finally {
        await observer.close();
      }
      await service.waitFor((l) => l.msg === 'job done' && l['jobId'] === jobId, 10_000);
      await cronitor.waitFor(() => true, 10_000);
      await influx.waitFor(() => true, 10_000);
      service.signal('SIGTERM');
      const { code } = await service.waitForExit(20_000);
      assert.equal(code, ExitCode.OK, service.tail());
      const output = allOutput(service);
      assert.ok(service.lines.some((l) => l.level === 'trace' || l.level === 'debug'));
      assert.deepEqual(leaks(output, [password, ...Object.values(secrets)]), [], service.tail());
      assert.ok(!output.includes(dsnKey), 'the Sentry key is printed');
    });
  });
});
