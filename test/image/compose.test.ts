import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import {
  BrokerObserver,
  createVhost,
  queues,
  rabbitmqctl,
  type TestVhost,
} from '../helpers/broker.js';
import { renderCompose } from '../helpers/container-files.js';
import { runFile, type Finished } from '../helpers/exec.js';
import { buildTestImage, Container, freePort, podman, testImage } from '../helpers/podman.js';

/**
 * The compose template, rendered by `npm run compose`'s renderer, run by Debian's
 * docker-compose against podman's Docker-compatible API (`podman system service` on a socket of
 * this test's own), with the machine's RabbitMQ on the host network standing in for the
 * template's dev-profile broker (which needs a registry). A small override file swaps only
 * what podman 4.3 cannot do here: the syslog log driver, and the network (host).
 */

let skip: string | undefined;
const dir = mkdtempSync(join(tmpdir(), 'worker-base-compose-'));
const socket = join(dir, 'podman.sock');
const project = `wbtest${randomUUID().slice(0, 8)}`;
let service: ChildProcess | undefined;
let vhost: TestVhost | undefined;

before(
  async () => {
    const built = await buildTestImage();
    skip = built.skip;
    if (skip !== undefined) {
      console.log(`SKIPPING the compose tests: ${skip}`);
      return;
    }
    const compose = await runFile('docker-compose', ['version', '--short']);
    if (compose.code !== 0) {
      throw new Error(`docker-compose does not run (scripts/test-prereqs.sh installs it):
${compose.stderr}`);
    }
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let serviceErrors = '';
    service.stderr?.on('data', (chunk: Buffer) => (serviceErrors += chunk.toString()));
    await waitForApi(socket, 30_000).catch((error: unknown) => {
      throw new Error(`podman system service did not answer: ${serviceErrors}`, { cause: error });
    });
    vhost = await createVhost('compose');
    console.log(`docker-compose ${compose.stdout.trim()} against podman on ${socket}`);
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  if (skip === undefined) {
    await composeRun(['down', '--timeout', '5']).catch(() => undefined);
  }
  await Container.removeAll();
  // Whatever compose made and down did not remove.
  const left = await podman([
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${project}`,
  ]);
  for (const id of left.stdout.split('\n').filter((l) => l !== '')) {
    await podman(['rm', '-f', '-t', '0', id]);
  }
  if (service !== undefined && service.exitCode === null) {
    service.kill('SIGTERM');
    await once(service, 'exit');
  }
  await vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

function skipped(t: TestContext): boolean {
  if (skip !== undefined) t.skip(`podman cannot run here: ${skip}`);
  return skip !== undefined;
}

/** Resolves once the API on `path` answers GET /_ping; rejects after timeoutMs. */
async function waitForApi(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ socketPath: path, path: '/_ping', timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no answer on ${path} within ${timeoutMs} ms`);
    await setTimeout(200);
  }
}

/** Writes .env, renders the template to docker-compose.yml and writes the podman override. */
async function render(settings: Record<string, string>): Promise<void> {
  const [repository, tag] = testImage.split(':');
  const env = {
    COMPOSE_PROJECT_NAME: project,
    APP_ENV: 'test',
    IMAGE: repository!,
    IMAGE_TAG: tag!,
    ZMQ_PUB_ENDPOINT: 'ipc:///tmp/results.sock',
    AMQP_URL: vhost!.url,
    ...settings,
  };
  const dotenv = join(dir, '.env');
  writeFileSync(
    dotenv,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const rendered = await renderCompose({}, dotenv, join(dir, 'docker-compose.yml'));
  assert.equal(rendered.code, 0, rendered.stderr);
  writeFileSync(
    join(dir, 'docker-compose.podman.yml'),
    [
      '# podman 4.3 here: no syslog driver; the broker is on the host network.',
      'services:',
      '  app:',
      '    network_mode: host',
      '    logging:',
      '      driver: json-file',
      '',
    ].join('\n'),
  );
}

function composeRun(args: string[], timeoutMs = 120_000): Promise<Finished> {
  return runFile(
    'docker-compose',
    ['-f', 'docker-compose.yml', '-f', 'docker-compose.podman.yml', ...args],
    {
      cwd: dir,
      env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
      timeoutMs,
    },
  );
}

/** The names of the project's app containers, as compose numbers them. */
async function appContainers(): Promise<string[]> {
  const result = await podman([
    'ps',
    '--format',
    '{{.Names}}',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    'label=com.docker.compose.service=app',
  ]);
  return result.stdout
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

async function healthy(name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let check = await podman(['healthcheck', 'run', name]);
  while (check.code !== 0 && Date.now() < deadline) {
    await setTimeout(1000);
    check = await podman(['healthcheck', 'run', name]);
  }
  assert.equal(check.code, 0, `${name} healthy: ${check.stdout}${check.stderr}`);
}

const ready = /"msg":"ready"/;

describe('the compose template under docker-compose against podman', { timeout: 300_000 }, () => {
  test('up -d: the service is healthy; stop ends it with exit 0 within stop_grace_period', async (t) => {
    if (skipped(t)) return;
    await render({ HEALTH_PORT: String(await freePort()) });
    const up = await composeRun(['up', '-d', '--no-build']);
    assert.equal(up.code, 0, up.stderr);
    const [name] = await appContainers();
    assert.ok(name, `an app container: ${up.stderr}`);
    const app = Container.adopt(name);
    await app.waitFor(ready, 60_000);
    await healthy(name);
    assert.match(await app.inspect('{{.Config.StopSignal}}'), /^(SIGTERM|15)$/);
    // The root file system is read-only; supervisord and cron write to the template's tmpfs.
    assert.equal(await app.inspect('{{.HostConfig.ReadonlyRootfs}}'), 'true');
    const write = await app.exec(['touch', '/etc/worker-base-probe']);
    assert.match(write.stderr, /Read-only file system/);
    const written = await app.exec(['sh', '-c', 'ls /run/supervisor /tmp /etc/cron.d']);
    assert.equal(written.code, 0, written.stderr);

    const started = Date.now();
    const stop = await composeRun(['stop']);
    const ms = Date.now() - started;
    assert.equal(stop.code, 0, stop.stderr);
    console.log(`docker-compose stop took ${ms} ms`);
    assert.ok(ms < 60_000, `within stop_grace_period (60 s): ${ms} ms`);
    assert.equal(await app.waitForExit(), 0);
    await app.waitFor(/"msg":"shutdown complete"/);
    assert.equal(app.serviceLines('shutdown complete').at(-1)?.['exitCode'], 0);
  });

  test('up -d --scale app=2: two competing consumers share the input queue', async (t) => {
    if (skipped(t)) return;
    // Two replicas on the host network cannot share a health port: HEALTH_PORT=0 turns the
    // endpoint off, and the HEALTHCHECK asks supervisord instead (docker/healthcheck.sh).
    // The sample logs its figures each second, so each replica's share can be read.
    await render({ HEALTH_PORT: '0', SAMPLE_STATS_SCHEDULE: '* * * * * *' });
    const up = await composeRun(['up', '-d', '--no-build', '--scale', 'app=2']);
    assert.equal(up.code, 0, up.stderr);
    const names = await appContainers();
    assert.equal(names.length, 2, `two app containers: ${names.join(', ')}\n${up.stderr}`);
    const apps = names.map((name) => Container.adopt(name));
    for (const app of apps) {
      await app.waitFor(ready, 60_000);
      await healthy(app.name);
    }
    const consumers = await rabbitmqctl('list_consumers', '-q', '-p', vhost!.name, 'queue_name');
    assert.equal(
      consumers.split('\n').filter((l) => l.trim() === queues.input).length,
      2,
      `two consumers on ${queues.input}:\n${consumers}`,
    );

    const observer = await BrokerObserver.open(vhost!.url);
    try {
      const ids = Array.from({ length: 40 }, () => randomUUID());
      await observer.publish(
        queues.input,
        ids.map((id) => JSON.stringify({ text: id })),
        (i) => ({ messageId: ids[i] }),
      );
      const results = await observer.collect(queues.results, (r) => r.length >= ids.length, 60_000);
      assert.deepEqual(
        new Set(results.map((r) => r.properties.messageId as string)),
        new Set(ids),
        'each event once',
      );
    } finally {
      await observer.close();
    }
    const share = (app: Container): number =>
      Number(app.serviceLines('pipeline stats').at(-1)?.['processed'] ?? 0);
    const deadline = Date.now() + 15_000;
    while (apps.reduce((sum, app) => sum + share(app), 0) < 40 && Date.now() < deadline) {
      await setTimeout(250);
    }
    const shares = apps.map(share);
    console.log(`events processed per replica: ${shares.join(' + ')}`);
    assert.equal(shares[0]! + shares[1]!, 40, `the replicas' figures: ${shares.join(', ')}`);
    assert.ok(
      shares.every((n) => n > 0),
      `both replicas consumed: ${shares.join(', ')}`,
    );

    const down = await composeRun(['down', '--timeout', '60']);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await appContainers(), []);
  });
});
