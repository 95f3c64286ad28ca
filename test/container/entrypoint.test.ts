import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runFile, type Finished } from '../helpers/exec.js';
import {
  containerEnv,
  entrypointScript,
  makeRoot,
  supervisordConf,
} from '../helpers/supervisord.js';

/**
 * entrypoint.sh run for real against a temporary root, with ENTRYPOINT_DRY_RUN=1 standing in
 * for the final exec; and the cron line it writes, run as cron would run it, against a
 * loopback recorder standing in for healthchecks.io and the service's health endpoint.
 */

function run(file: string, args: string[], env: Record<string, string>): Promise<Finished> {
  return runFile(file, args, { env });
}

const roots: string[] = [];
function root(): string {
  const dir = makeRoot();
  roots.push(dir);
  return dir;
}
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

function entrypoint(env: Record<string, string>, args: string[] = []): Promise<Finished> {
  return run('/bin/sh', [entrypointScript, ...args], { ENTRYPOINT_DRY_RUN: '1', ...env });
}

function without(env: Record<string, string>, ...names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !names.includes(k)));
}

/** The cron.d line's parts: schedule (5 fields), user, command. */
function cronEntry(file: string): { schedule: string; user: string; command: string } {
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.trim() !== '' && !l.startsWith('#'));
  const m = /^((?:\S+\s+){4}\S+)\s+(\S+)\s+(.*)$/.exec(line ?? '');
  assert.ok(m, `a cron.d line: ${String(line)}`);
  return { schedule: m[1]!, user: m[2]!, command: m[3]! };
}

/** The environment cron gives a job (Debian cron: no container variables). */
const cronEnv = { PATH: '/usr/bin:/bin', SHELL: '/bin/sh' };

const pingUrl = 'https://hc-ping.com/5f0a8e2c-1b7d-4e0c-9a57-0c1d2e3f4a5b';

describe('entrypoint.sh', () => {
  test('with every setting, it writes the healthchecks cron line and execs supervisord -n -c CONF', async () => {
    const dir = root();
    const env = containerEnv(dir, {
      CRON_AUTOSTART: 'true',
      HEALTHCHECKS_URL: pingUrl,
      HEALTH_PORT: '8080',
    });
    const result = await entrypoint(env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      `exec python3 ${env['APP_DIR']}/docker/supervisord-main.py -n -c ${supervisordConf}\n`,
    );
    assert.match(result.stderr, /stop this container with a grace period above 50 s/);
    const file = join(dir, 'cron.d', 'healthchecks');
    assert.equal(
      readFileSync(file, 'utf8').split('\n')[1],
      `*/5 * * * * ${env['APP_USER']} HEALTH_PORT=8080 HEALTH_HOST=127.0.0.1 HEALTHCHECK_MAX_TIME_S=5 sh ${env['APP_DIR']}/docker/healthcheck.sh && ` +
        `curl -fsS --max-time 10 --retry 5 --retry-delay 2 -o /dev/null '${pingUrl}'`,
    );
    assert.equal(statSync(file).mode & 0o777, 0o644, 'cron ignores group/world-writable files');
    assert.ok(statSync(join(dir, 'run')).isDirectory(), 'supervisord run directory prepared');
  });

  test('HEALTHCHECKS_SCHEDULE sets the schedule; HEALTH_PORT=0 or unset: the check asks supervisord, as root', async () => {
    for (const port of [{}, { HEALTH_PORT: '0' }] as Array<Record<string, string>>) {
      const dir = root();
      const env = containerEnv(dir, {
        CRON_AUTOSTART: 'true',
        HEALTHCHECKS_URL: pingUrl,
        HEALTHCHECKS_SCHEDULE: '*/2 * * * 1-5',
        ...port,
      });
      const result = await entrypoint(env);
      assert.equal(result.code, 0, result.stderr);
      const entry = cronEntry(join(dir, 'cron.d', 'healthchecks'));
      assert.equal(entry.schedule, '*/2 * * * 1-5');
      // The socket is root's alone; supervisorctl expands the conf's variables.
      assert.equal(entry.user, 'root');
      assert.equal(
        entry.command,
        `HEALTH_PORT=0 HEALTHCHECK_MAX_TIME_S=5 SUPERVISOR_CONF='${supervisordConf}' ` +
          `APP_DIR='${env['APP_DIR']}' APP_USER='${env['APP_USER']}' CRON_AUTOSTART='true' ` +
          `MAX_SEMI_SPACE_MB='2' NODE_BIN='${env['NODE_BIN']}' SUPERVISOR_RUN_DIR='${env['SUPERVISOR_RUN_DIR']}' ` +
          `sh ${env['APP_DIR']}/docker/healthcheck.sh && ` +
          `curl -fsS --max-time 10 --retry 5 --retry-delay 2 -o /dev/null '${pingUrl}'`,
      );
    }
  });

  test('SHUTDOWN_DEADLINE_MS_FILE is read and checked as SHUTDOWN_DEADLINE_MS is', async () => {
    const dir = root();
    const file = join(dir, 'deadline');
    writeFileSync(file, '45000\n');
    const tooLong = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: file }));
    assert.equal(tooLong.code, 78, tooLong.stdout);
    assert.match(
      tooLong.stderr,
      /SHUTDOWN_DEADLINE_MS \(from SHUTDOWN_DEADLINE_MS_FILE=\S+\)=45000 must be at least 4 s below supervisord's stopwaitsecs \(45 s/,
    );
    writeFileSync(file, '30000\n');
    const fine = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: file }));
    assert.equal(fine.code, 0, fine.stderr);
    // A file written on Windows (CRLF), as the service reads it: 30000 (refused before).
    writeFileSync(file, '30000\r\n');
    const crlf = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: file }));
    assert.equal(crlf.code, 0, crlf.stderr);
    writeFileSync(file, ' 45000\r\n');
    const crlfTooLong = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: file }));
    assert.equal(crlfTooLong.code, 78, crlfTooLong.stdout);
    assert.match(
      crlfTooLong.stderr,
      /=45000 must be at least 4 s below supervisord's stopwaitsecs/,
    );
    const both = await entrypoint(
      containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: file, SHUTDOWN_DEADLINE_MS: '30000' }),
    );
    assert.equal(both.code, 78);
    assert.match(both.stderr, /SHUTDOWN_DEADLINE_MS and SHUTDOWN_DEADLINE_MS_FILE are both set/);
    const missing = join(dir, 'no-such-file');
    const unreadable = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: missing }));
    assert.equal(unreadable.code, 78);
    assert.match(
      unreadable.stderr,
      /SHUTDOWN_DEADLINE_MS_FILE names \S+no-such-file, which cannot be read/,
    );
    // A FIFO nobody writes to: reading it would hang the entrypoint.
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const notFile = await entrypoint(containerEnv(dir, { SHUTDOWN_DEADLINE_MS_FILE: fifo }));
    assert.equal(notFile.code, 78);
    assert.match(
      notFile.stderr,
      /SHUTDOWN_DEADLINE_MS_FILE names \S+fifo, which is not a regular file/,
    );
  });

  test('without HEALTHCHECKS_URL no cron entry is written, and a stale one is removed', async () => {
    const dir = root();
    mkdirSync(join(dir, 'cron.d'));
    writeFileSync(join(dir, 'cron.d', 'healthchecks'), '* * * * * app curl stale\n');
    const result = await entrypoint(containerEnv(dir));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(join(dir, 'cron.d', 'healthchecks')), false);
    assert.match(result.stderr, /HEALTHCHECKS_URL is unset; removed/);
  });

  test('arguments replace supervisord as the command', async () => {
    const result = await entrypoint(containerEnv(root()), ['bash', '-l']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'exec bash -l\n');
  });

  test('on a read-only file system: exit 78 naming each place that needs a tmpfs', async () => {
    // /tmp (where the test's root is) and /var/tmp made read-only in a mount namespace of the
    // entrypoint's own, as `docker run --read-only` makes the whole root.
    const dir = root();
    const env = containerEnv(dir, { CRON_AUTOSTART: 'true', HEALTHCHECKS_URL: pingUrl });
    const readOnly =
      'for d in /tmp /var/tmp; do mount --bind "$d" "$d" && mount -o remount,bind,ro "$d"; done && exec "$@"';
    const result = await run(
      'unshare',
      ['-m', 'sh', '-c', readOnly, 'sh', '/bin/sh', entrypointScript],
      {
        ENTRYPOINT_DRY_RUN: '1',
        ...env,
      },
    );
    assert.equal(result.code, 78, result.stderr);
    assert.equal(result.stdout, '');
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('entrypoint: '));
    assert.deepEqual(lines, [
      `entrypoint: SUPERVISOR_RUN_DIR=${dir}/run cannot be written (supervisord's socket and pid file): on a read-only root file system, mount a tmpfs on it or a parent (docker run --tmpfs /run; compose: tmpfs: [/run])`,
      'entrypoint: no writable temporary directory (TMPDIR, /tmp, /var/tmp), which supervisord needs: on a read-only root file system, mount a tmpfs on it or a parent (docker run --tmpfs /tmp; compose: tmpfs: [/tmp])',
      `entrypoint: CRON_D_DIR=${dir}/cron.d cannot be written (HEALTHCHECKS_URL's cron entry): on a read-only root file system, mount a tmpfs on it or a parent (docker run --tmpfs ${dir}/cron.d; compose: tmpfs: [${dir}/cron.d])`,
    ]);
    // The same with the places writable (a TMPDIR of its own): no problem left.
    mkdirSync(join(dir, 'tmp'));
    const writable = await entrypoint({ ...env, TMPDIR: join(dir, 'tmp') });
    assert.equal(writable.code, 0, writable.stderr);
  });

  test('as a user other than root: exit 78 saying the container starts as root; a given command runs', async () => {
    // `docker run --user 65534`: the entrypoint as nobody (setpriv, util-linux), run from a
    // root nobody can read (the checkout may be in a directory only root can enter, as the
    // fork test's copy is): the script, supervisord.conf and an app beside them.
    const dir = root();
    chmodSync(dir, 0o755);
    const script = join(dir, 'entrypoint.sh');
    copyFileSync(entrypointScript, script);
    const conf = join(dir, 'supervisord.conf');
    copyFileSync(supervisordConf, conf);
    const appDir = join(dir, 'app');
    mkdirSync(join(appDir, 'dist', 'src', 'app'), { recursive: true });
    writeFileSync(join(appDir, 'dist', 'src', 'app', 'main.js'), '');
    const env = containerEnv(dir, {
      CRON_AUTOSTART: 'true',
      HEALTHCHECKS_URL: pingUrl,
      SUPERVISOR_CONF: conf,
      APP_DIR: appDir,
      NODE_BIN: '/usr/bin/env',
    });
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/sh', script];
    const denied = await run('setpriv', asNobody, { ENTRYPOINT_DRY_RUN: '1', ...env });
    assert.equal(denied.code, 78, denied.stderr);
    assert.equal(denied.stdout, '');
    assert.equal(
      denied.stderr,
      `entrypoint: the container runs as uid 65534, not root (docker run --user, Kubernetes runAsUser): supervisord starts as root and runs the service as APP_USER=${env['APP_USER']} itself, and cron needs root; start the container as root (the service never runs as root)\n`,
    );
    const command = await run('setpriv', [...asNobody, 'id', '-u'], {
      ENTRYPOINT_DRY_RUN: '1',
      ...env,
    });
    assert.equal(command.code, 0, command.stderr);
    assert.equal(command.stdout, 'exec id -u\n');
    // Nothing of supervisord's or cron's was prepared.
    assert.equal(existsSync(join(dir, 'cron.d')), false);
    assert.equal(existsSync(join(dir, 'run')), false);
  });

  test('missing settings: exit 78 naming every missing variable, and nothing is written', async () => {
    const dir = root();
    const env = without(
      containerEnv(dir, { CRON_AUTOSTART: 'true', HEALTHCHECKS_URL: pingUrl }),
      'NODE_BIN',
      'APP_DIR',
    );
    const result = await entrypoint(env);
    assert.equal(result.code, 78);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^entrypoint: APP_DIR is not set \(supervisord\.conf uses it/m);
    assert.match(result.stderr, /^entrypoint: NODE_BIN is not set \(supervisord\.conf uses it/m);
    assert.equal(existsSync(join(dir, 'cron.d')), false);
    assert.equal(existsSync(join(dir, 'run')), false);

    const noConf = await entrypoint(without(containerEnv(dir), 'SUPERVISOR_CONF'));
    assert.equal(noConf.code, 78);
    assert.match(noConf.stderr, /SUPERVISOR_CONF is not set/);
  });

  const badValues: Array<[string, Record<string, string>, RegExp]> = [
    [
      'a health host cron and the shell would change (a % is a newline to cron)',
      { HEALTHCHECKS_URL: pingUrl, HEALTH_PORT: '8080', HEALTH_HOST: 'fe80::1%eth0' },
      /HEALTH_HOST must be an address or a host name/,
    ],
    [
      'a quote in a variable the endpoint-off check passes through cron (HEALTH_PORT=0)',
      { HEALTHCHECKS_URL: pingUrl, HEALTH_PORT: '0', APP_USER: "o'brien" },
      /APP_USER must not contain quotes, percent signs or backslashes with HEALTH_PORT=0/,
    ],
    [
      'a non-http URL',
      { HEALTHCHECKS_URL: 'ftp://hc-ping.com/x' },
      /HEALTHCHECKS_URL must start with http:\/\/ or https:\/\//,
    ],
    [
      'a quote in the URL',
      { HEALTHCHECKS_URL: "https://hc-ping.com/a'b" },
      /must not contain quotes/,
    ],
    [
      'a percent sign in the URL',
      { HEALTHCHECKS_URL: 'https://hc-ping.com/a%20b' },
      /percent signs/,
    ],
    [
      'a four-field schedule',
      { HEALTHCHECKS_URL: pingUrl, HEALTHCHECKS_SCHEDULE: '*/5 * * *' },
      /HEALTHCHECKS_SCHEDULE must be five cron fields/,
    ],
    [
      'a schedule with a command in it',
      { HEALTHCHECKS_URL: pingUrl, HEALTHCHECKS_SCHEDULE: '* * * * * rm' },
      /HEALTHCHECKS_SCHEDULE must be five cron fields/,
    ],
    // Five fields of the right characters that cron still refuses (Debian's crontab: 'bad
    // minute'): the whole entry was skipped, and the ping never ran while the container said
    // nothing.
    ...(
      [
        ['99 * * * *', "minute field '99'"],
        ['* 24 * * *', "hour field '24'"],
        ['* * 0 * *', "day-of-month field '0'"],
        ['* * * 13 *', "month field '13'"],
        ['* * * * 8', "day-of-week field '8'"],
        ['*/0 * * * *', "minute field '\\*/0'"],
        ['5/10 * * * *', "minute field '5/10'"],
        ['1,,2 * * * *', "minute field '1,,2'"],
      ] as const
    ).map(([schedule, field]): [string, Record<string, string>, RegExp] => [
      `a schedule cron refuses: ${schedule}`,
      { HEALTHCHECKS_URL: pingUrl, HEALTHCHECKS_SCHEDULE: schedule },
      new RegExp(`HEALTHCHECKS_SCHEDULE's ${field} is not a cron`),
    ]),
    [
      'cron off with a ping set',
      { HEALTHCHECKS_URL: pingUrl, CRON_AUTOSTART: 'false' },
      /CRON_AUTOSTART=false: nothing would run the ping/,
    ],
    [
      'a deadline past stopwaitsecs',
      { SHUTDOWN_DEADLINE_MS: '45000' },
      /SHUTDOWN_DEADLINE_MS=45000 must be at least 4 s below supervisord's stopwaitsecs \(45 s/,
    ],
    [
      "a deadline whose own exit (up to 4 s past it) would meet supervisord's KILL",
      { SHUTDOWN_DEADLINE_MS: '41001' },
      /SHUTDOWN_DEADLINE_MS=41001 must be at least 4 s below supervisord's stopwaitsecs \(45 s;/,
    ],
    [
      'an unknown service user',
      { APP_USER: 'no-such-user-worker-base' },
      /APP_USER=no-such-user-worker-base is not a user/,
    ],
    [
      'a node that is not there',
      { NODE_BIN: '/nonexistent/node' },
      /NODE_BIN=\/nonexistent\/node is not an executable file/,
    ],
    [
      'a young-generation cap that is not a number',
      { MAX_SEMI_SPACE_MB: '2m' },
      /MAX_SEMI_SPACE_MB must be a whole number of MiB, 0 for V8's default \(got '2m'\)/,
    ],
    [
      'CRON_AUTOSTART not a boolean',
      { CRON_AUTOSTART: 'yes' },
      /CRON_AUTOSTART must be true or false/,
    ],
  ];
  for (const [what, extra, message] of badValues) {
    test(`rejects ${what} with exit 78 and a clear message`, async () => {
      const dir = root();
      const result = await entrypoint(containerEnv(dir, { CRON_AUTOSTART: 'true', ...extra }));
      assert.equal(result.code, 78, result.stdout);
      assert.match(result.stderr, message);
      assert.equal(existsSync(join(dir, 'cron.d', 'healthchecks')), false);
    });
  }
});

describe('the healthchecks cron line, run as cron runs it', () => {
  let server: Server;
  let base: string;
  const requests: Array<{ url: string; userAgent: string }> = [];
  /** Status codes to answer, per path, in order; 200 once they run out. */
  const answers = new Map<string, number[]>();

  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      requests.push({ url, userAgent: req.headers['user-agent'] ?? '' });
      const queue = answers.get(url) ?? [];
      res.writeHead(queue.shift() ?? 200, { 'content-type': 'text/plain' }).end('OK');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  /** Writes the entry with the recorder as both ends and returns its command part. */
  async function cronCommand(pingPath: string): Promise<string> {
    const dir = root();
    const port = new URL(base).port;
    const result = await entrypoint(
      containerEnv(dir, {
        CRON_AUTOSTART: 'true',
        HEALTHCHECKS_URL: base + pingPath,
        HEALTH_PORT: port,
      }),
    );
    assert.equal(result.code, 0, result.stderr);
    return cronEntry(join(dir, 'cron.d', 'healthchecks')).command;
  }

  test('pings the URL while the service is live, retrying a failed ping', async () => {
    const pingPath = '/ping/live-retry';
    const command = await cronCommand(pingPath);
    answers.set(pingPath, [503]);
    requests.length = 0;
    const result = await run('/bin/sh', ['-c', command], cronEnv);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      requests.map((r) => r.url),
      ['/livez', '/readyz', pingPath, pingPath],
    );
    assert.ok(requests.every((r) => r.userAgent.startsWith('curl/')));
  });

  test('sends no ping while the health endpoint fails, live or ready', async () => {
    const command = await cronCommand('/ping/unhealthy');
    for (const [failing, asked] of [
      ['/livez', ['/livez']],
      ['/readyz', ['/livez', '/readyz']],
    ] as const) {
      answers.set(failing, [503]);
      requests.length = 0;
      const result = await run('/bin/sh', ['-c', command], cronEnv);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /503/);
      assert.deepEqual(
        requests.map((r) => r.url),
        asked,
      );
    }
  });
});
