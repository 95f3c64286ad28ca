import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { brokerHost, createVhost, rabbitmqctl, type TestVhost } from '../helpers/broker.js';
import { runFile } from '../helpers/exec.js';
import { HttpRecorder } from '../helpers/http-recorder.js';
import {
  buildTestImage,
  Container,
  podman,
  testImage,
  type RunOptions,
} from '../helpers/podman.js';

/**
 * The image built from the unchanged Dockerfile (scripts/image.sh, as `npm run image` does) and
 * run as real containers with podman: what a fork ships. Skipped, with the reason, only where
 * podman cannot run at all. Timings are printed for docs/container.md.
 */

let skip: string | undefined;
const temporary = mkdtempSync(join(tmpdir(), 'worker-base-image-'));

before(
  async () => {
    const built = await buildTestImage();
    skip = built.skip;
    console.log(
      skip === undefined
        ? `image ${testImage} built (or found cached) in ${built.seconds} s`
        : `SKIPPING the container tests: ${skip}`,
    );
  },
  { timeout: 20 * 60_000 },
);
after(async () => {
  await Container.removeAll();
  rmSync(temporary, { recursive: true, force: true });
});

/** Skips the test when podman cannot run here; true when skipped. */
function skipped(t: TestContext): boolean {
  if (skip !== undefined) t.skip(`podman cannot run here: ${skip}`);
  return skip !== undefined;
}

const ready = /"msg":"ready"/;

describe('the image, run as a container', { timeout: 300_000 }, () => {
  let container: Container;
  let recorder: HttpRecorder;
  const pingPath = `/ping/${randomUUID()}`;

  before(async () => {
    if (skip !== undefined) return;
    recorder = new HttpRecorder();
    await recorder.start();
    // Every minute: the ping test below waits for cron's next minute.
    container = await Container.run({
      env: {
        HEALTHCHECKS_URL: `${recorder.baseUrl}${pingPath}`,
        HEALTHCHECKS_SCHEDULE: '* * * * *',
      },
    });
  });
  after(async () => {
    await container?.remove();
    await recorder?.close();
  });

  test('ready appears in podman logs; supervisord is PID 1; the service runs as app', async (t) => {
    if (skipped(t)) return;
    await container.waitFor(ready);
    console.log(`ready in podman logs ${Date.now() - container.startedAt} ms after podman run`);
    const init = await container.exec(['cat', '/proc/1/cmdline']);
    assert.match(init.stdout.replaceAll('\0', ' '), /supervisord-main\.py -n -c \/app\/config/);
    const top = await podman(['top', container.name, 'user', 'pid', 'args']);
    const node = top.stdout.split('\n').find((l) => l.includes('dist/src/app/main.js'));
    assert.match(node ?? '', /^app\s+\d+\s+\/usr\/local\/bin\/node /, top.stdout);
    assert.match(top.stdout, /^root\s+1\s+.*supervisord/m);
  });

  test('the image asks for a 60 s stop timeout: its label, and the entrypoint says so at start', async (t) => {
    if (skipped(t)) return;
    const label = await podman([
      'image',
      'inspect',
      '--format',
      '{{ index .Labels "org.worker-base.stop-timeout" }}',
      testImage,
    ]);
    assert.equal(label.stdout.trim(), '60');
    await container.waitFor(/entrypoint: stop this container with a grace period above 50 s/);
  });

  test('the files the service runs from are not writable by it', async (t) => {
    if (skipped(t)) return;
    const places = ['/app', '/usr/local/bin/entrypoint.sh', '/usr/local/lib/node_modules'];
    const writable = await container.exec(['find', ...places, '-writable'], { user: 'app' });
    assert.equal(writable.code, 0, writable.stderr);
    assert.equal(writable.stdout, '', 'writable by app');
    const write = await container.exec(['touch', '/app/dist/src/app/main.js'], { user: 'app' });
    assert.notEqual(write.code, 0);
  });

  test('the HEALTHCHECK reports healthy, and unhealthy within its bound when the service hangs', async (t) => {
    if (skipped(t)) return;
    await container.waitFor(ready);
    const healthy = await podman(['healthcheck', 'run', container.name]);
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);

    // A frozen service keeps its port open and never answers: only curl's --max-time ends the
    // check (podman 4.3 does not enforce the HEALTHCHECK's --timeout).
    const pid = await container.servicePid();
    await container.kill(pid, 'STOP');
    try {
      const started = Date.now();
      const hung = await podman(['healthcheck', 'run', container.name], 30_000);
      const ms = Date.now() - started;
      console.log(`healthcheck against a frozen service answered in ${ms} ms: ${hung.stdout}`);
      assert.equal(hung.code, 1, hung.stdout + hung.stderr);
      assert.match(hung.stdout, /unhealthy/);
      assert.ok(ms < 15_000, `bounded by curl --max-time 2 (took ${ms} ms)`);
    } finally {
      await container.kill(pid, 'CONT');
    }
    // Thawed, the service first reports the stall it just had (loop delay), then healthy.
    const deadline = Date.now() + 30_000;
    let again = await podman(['healthcheck', 'run', container.name]);
    while (again.code !== 0 && Date.now() < deadline) {
      await setTimeout(1000);
      again = await podman(['healthcheck', 'run', container.name]);
    }
    assert.equal(again.code, 0, `healthy again after SIGCONT: ${again.stdout}${again.stderr}`);
  });

  test('kill -9 of the service: supervisord starts it again and ready appears again', async (t) => {
    if (skipped(t)) return;
    await container.waitFor(ready);
    const pid = await container.servicePid();
    const from = container.output.length;
    const killed = Date.now();
    await container.kill(pid, 'KILL');
    await container.waitFor(/exited: app \(terminated by SIGKILL; not expected\)/, 15_000, from);
    const spawned = await container.waitFor(/spawned: 'app' with pid (\d+)/, 15_000, from);
    assert.notEqual(Number(spawned[1]), pid);
    await container.waitFor(ready, 30_000, from);
    console.log(`after kill -9 in the container: ready again in ${Date.now() - killed} ms`);
  });

  test('HEALTHCHECKS_URL: the cron entry is written and pings a loopback recorder', async (t) => {
    if (skipped(t)) return;
    const entry = await container.exec(['cat', '/etc/cron.d/healthchecks']);
    // The check is the HEALTHCHECK's own script, run by cron as the app user.
    assert.match(
      entry.stdout,
      new RegExp(
        `^\\* \\* \\* \\* \\* app HEALTH_PORT=\\d+ HEALTH_HOST=127\\.0\\.0\\.1 HEALTHCHECK_MAX_TIME_S=5 sh /app/docker/healthcheck\\.sh && curl .*${pingPath}'$`,
        'm',
      ),
    );
    // cron runs the entry at the start of each minute.
    await recorder.waitFor((r) => r.url.pathname === pingPath, 75_000);
    assert.ok(recorder.requests.some((r) => r.method === 'GET' && r.url.pathname === pingPath));
  });

  test('podman stop (TERM to PID 1): a clean shutdown in the logs and exit code 0', async (t) => {
    if (skipped(t)) return;
    await container.waitFor(ready);
    const started = Date.now();
    const stop = await podman(['stop', '-t', '60', container.name], 90_000);
    const ms = Date.now() - started;
    assert.equal(stop.code, 0, stop.stderr);
    console.log(`podman stop -t 60 took ${ms} ms`);
    assert.equal(await container.waitForExit(), 0);
    assert.ok(ms < 50_000, `within the grace period, without KILL (took ${ms} ms)`);
    // The container has exited, but the log stream may still be delivering its last lines.
    await container.waitFor(/"msg":"stop requested"/);
    await container.waitFor(/"msg":"shutdown complete"/);
    await container.waitFor(/stopped: app \(exit status/);
    const complete = container.serviceLines('shutdown complete').at(-1);
    assert.equal(complete?.['exitCode'], 0, container.tail());
    assert.match(container.output, /stopped: app \(exit status 0\)/);
  });
});

describe(
  'the HEALTHCHECK with the health endpoint off (HEALTH_PORT=0)',
  { timeout: 120_000 },
  () => {
    test('healthy while supervisord runs the service, unhealthy once it does not', async (t) => {
      if (skipped(t)) return;
      const container = await Container.run({ env: { HEALTH_PORT: '0' } });
      try {
        await container.waitFor(ready, 60_000);
        await container.waitFor(/success: app entered RUNNING state/, 30_000);
        const healthy = await podman(['healthcheck', 'run', container.name]);
        assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
        const stop = await container.exec(['supervisorctl', 'stop', 'app']);
        assert.match(stop.stdout, /app: stopped/);
        const unhealthy = await podman(['healthcheck', 'run', container.name]);
        assert.equal(unhealthy.code, 1, unhealthy.stdout + unhealthy.stderr);
      } finally {
        await container.remove();
      }
    });
  },
);

/**
 * Runs a container that must be refused (exit 78: a setting, or how it was started), waits for
 * each line it must say, and removes it; returns its output.
 */
async function refused(options: RunOptions, ...says: RegExp[]): Promise<string> {
  const container = await Container.run(options);
  try {
    assert.equal(await container.waitForExit(60_000), 78, container.tail());
    for (const line of says) await container.waitFor(line);
    return container.output;
  } finally {
    await container.remove();
  }
}

describe('a read-only root file system', { timeout: 120_000 }, () => {
  test('with no tmpfs (docker run --read-only): exit 78, naming /run and /tmp', async (t) => {
    if (skipped(t)) return;
    // podman adds tmpfs mounts to a read-only container unless told not to; Docker does not.
    // With the template's tmpfs the compose test runs the service read-only.
    const output = await refused(
      { args: ['--read-only', '--read-only-tmpfs=false'] },
      /SUPERVISOR_RUN_DIR=\/run\/supervisor cannot be written/,
      /no writable temporary directory .*--tmpfs \/tmp/,
    );
    assert.doesNotMatch(output, /Traceback/);
  });
});

describe('run as a user other than root (docker run --user)', { timeout: 120_000 }, () => {
  test('exit 78, saying the container starts as root; a given command runs as that user', async (t) => {
    if (skipped(t)) return;
    await refused({ args: ['--user', '1000:1000'] }, /the container runs as uid 1000, not root/);
    const command = await podman(['run', '--rm', '--user', '1000:1000', testImage, 'id', '-u']);
    assert.equal(command.code, 0, command.stderr);
    assert.equal(command.stdout.trim(), '1000');
  });
});

describe(
  'the service run without supervisord (a Kubernetes command, docker run --entrypoint)',
  { timeout: 120_000 },
  () => {
    const node = ['/usr/local/bin/node', '--max-semi-space-size=2', '/app/dist/src/app/main.js'];

    test('as PID 1 it refuses to run (78); under tini a stalled main thread is killed', async (t) => {
      if (skipped(t)) return;
      await refused(
        { args: ['--entrypoint', node[0]!], command: node.slice(1) },
        /the service runs as PID 1, where the kernel ignores the SIGKILL/,
      );
      // Under tini (PID 1) the watchdog's SIGKILL ends the stalled service, and the container.
      const tini = await Container.run({
        env: { FAULT: 'main-stall:120000', MAIN_STALL_LIMIT_MS: '2000' },
        args: ['--entrypoint', '/usr/bin/tini'],
        command: ['--', ...node],
      });
      try {
        await tini.waitFor(ready, 60_000);
        await tini.waitFor(/"msg":"fault drill: the main thread stalls"/, 30_000);
        assert.equal(await tini.waitForExit(30_000), 137, tini.tail());
        await tini.waitFor(/"level":"fatal".*main thread stalled past MAIN_STALL_LIMIT_MS/);
      } finally {
        await tini.remove();
      }
    });
  },
);

describe('the image when the service keeps failing', { timeout: 180_000 }, () => {
  test('FATAL ends the container with a non-zero code, and on-failure brings it back', async (t) => {
    if (skipped(t)) return;
    const container = await Container.run({
      env: { FAULT: 'dependency:startup' },
      args: ['--restart', 'on-failure:1'],
    });
    try {
      await container.waitFor(/gave up: app entered FATAL state/, 60_000);
      await container.waitFor(/supervisord: exiting 1: app entered FATAL/, 30_000);
      // The restart policy starts the same container once more; it fails the same way.
      const restarts = async (): Promise<number> =>
        Number(await container.inspect('{{.RestartCount}}'));
      const deadline = Date.now() + 90_000;
      while ((await restarts()) < 1 && Date.now() < deadline) {
        await setTimeout(500);
      }
      assert.equal(await restarts(), 1, 'restarted by on-failure');
      const code = await container.waitForExit(90_000);
      // `podman wait` may see the exit before the restart: read the last one once it settled.
      assert.equal(code, 1, container.tail());
      assert.equal(await container.inspect('{{.State.ExitCode}}'), '1');
    } finally {
      await container.remove();
    }
  });
});

describe('secrets passed as files', { timeout: 120_000 }, () => {
  let vhost: TestVhost | undefined;
  const user = `worker-base-test-${randomUUID().slice(0, 8)}`;
  const password = randomUUID();

  after(async () => {
    await rabbitmqctl('delete_user', user).catch(() => undefined);
    await vhost?.remove();
  });

  test('AMQP_URL_FILE is read from a mounted file; the secret is in no log, inspect or layer', async (t) => {
    if (skipped(t)) return;
    vhost = await createVhost('image-secret');
    await rabbitmqctl('add_user', user, password);
    await rabbitmqctl('set_permissions', '-p', vhost.name, user, '.*', '.*', '.*');
    const url = brokerHost.replace('guest:guest', `${user}:${password}`);
    const file = join(temporary, 'amqp-url');
    writeFileSync(file, `${url}/${encodeURIComponent(vhost.name)}\n`);
    chmodSync(file, 0o644);
    const container = await Container.run({
      env: { AMQP_URL_FILE: '/run/secrets/amqp_url' },
      args: ['-v', `${file}:/run/secrets/amqp_url:ro`],
    });
    try {
      await container.waitFor(ready, 60_000);
      const connections = await rabbitmqctl('list_connections', '-p', vhost.name, 'user');
      assert.match(connections, new RegExp(`^${user}$`, 'm'), 'connected with the file');
      const inspect = await podman(['inspect', container.name]);
      assert.ok(!inspect.stdout.includes(password), 'not in podman inspect');
      assert.ok(!container.output.includes(password), 'not in the logs');
    } finally {
      await container.remove();
    }

    const history = await podman([
      'history',
      '--no-trunc',
      '--format',
      '{{.CreatedBy}}',
      testImage,
    ]);
    assert.equal(history.code, 0, history.stderr);
    assert.doesNotMatch(history.stdout, /(PASSWORD|TOKEN|SECRET|DSN|API_KEY)\w*=[^\s"]/i);
    // The image's files: no .env, npm credentials or rendered compose file got in.
    const mount = await podman(['image', 'mount', testImage]);
    assert.equal(mount.code, 0, mount.stderr);
    try {
      const root = mount.stdout.trim();
      const leaked = await findFiles(root, ['.env', '.npmrc', 'docker-compose.yml', '.git']);
      assert.deepEqual(leaked, []);
    } finally {
      await podman(['image', 'unmount', testImage]);
    }
  });
});

/** Paths under root/app and root/root named like a secret's home. */
async function findFiles(root: string, names: string[]): Promise<string[]> {
  const args = [join(root, 'app'), join(root, 'root'), '('];
  names.forEach((name, i) => args.push(...(i === 0 ? [] : ['-o']), '-name', name));
  args.push(')', '-print');
  const result = await runFile('find', args);
  return result.stdout.split('\n').filter((l) => l !== '');
}
