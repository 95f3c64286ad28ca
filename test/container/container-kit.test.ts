import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  readDockerfile,
  readSupervisordConf,
  readYaml,
  renderCompose,
} from '../helpers/container-files.js';
import { runFile } from '../helpers/exec.js';
import { makeRoot, repoDir } from '../helpers/supervisord.js';
import { HealthServer } from '../../src/lib/telemetry/health-server.js';
import { HealthChecks } from '../../src/lib/health.js';
import { captureLogger } from '../helpers/core.js';

/**
 * Static checks of the container kit with the real tools where they exist offline:
 * shellcheck, python3's compiler, the project's compose renderer plus a YAML parser. The
 * Dockerfile has no linter packaged for Debian or npm, so its required instructions are
 * checked here.
 */

async function run(file: string, args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await runFile(file, args, { cwd: repoDir });
  return { code, output: stdout + stderr };
}

/** Every shell script in the repository's script places, found by its #! line. */
function shellScripts(): string[] {
  const candidates = [
    'entrypoint.sh',
    '.ci/run',
    ...readdirSync(join(repoDir, 'scripts')).map((f) => `scripts/${f}`),
    ...readdirSync(join(repoDir, 'docker')).map((f) => `docker/${f}`),
  ];
  return candidates.filter((f) =>
    /^#!\s*\/(usr\/)?bin\/(env\s+)?(ba|da)?sh\b/.test(readFileSync(join(repoDir, f), 'utf8')),
  );
}

const roots: string[] = [];
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

describe('container kit files', () => {
  test('shellcheck passes on every shell script', async () => {
    const scripts = shellScripts();
    assert.ok(scripts.includes('entrypoint.sh') && scripts.includes('.ci/run'));
    assert.ok(scripts.some((s) => s.startsWith('scripts/')));
    const result = await run('shellcheck', ['--external-sources', ...scripts]);
    assert.equal(result.code, 0, result.output);
  });

  test('entrypoint.sh is POSIX sh with set -eu and ends by exec-ing its command', () => {
    const text = readFileSync(join(repoDir, 'entrypoint.sh'), 'utf8');
    assert.match(text, /^#!\/bin\/sh\n/);
    assert.match(text, /^set -eu$/m);
    assert.match(text, /^ {2}exec "\$@"$/m);
    assert.match(text.trimEnd(), /\nfinish "\$@"$/);
  });

  test('the FATAL listener and the supervisord wrapper compile on python3', async () => {
    for (const file of ['docker/fatal-listener.py', 'docker/supervisord-main.py']) {
      const result = await run('python3', [
        '-c',
        'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])',
        file,
      ]);
      assert.equal(result.code, 0, result.output);
    }
  });

  test('supervisord.conf: the service restarts on unexpected exits only, stops with TERM, logs to stdout', () => {
    const conf = readSupervisordConf();
    const app = conf.get('program:app');
    assert.ok(app);
    assert.equal(app.get('autorestart'), 'unexpected');
    assert.equal(app.get('exitcodes'), '0');
    assert.equal(app.get('stopsignal'), 'TERM');
    assert.equal(app.get('user'), '%(ENV_APP_USER)s');
    assert.equal(app.get('stdout_logfile'), '/dev/stdout');
    assert.equal(app.get('stdout_logfile_maxbytes'), '0');
    assert.equal(app.get('redirect_stderr'), 'true');
    assert.ok(Number(app.get('startsecs')) <= 5);
    assert.ok(Number(app.get('startretries')) >= 1);
    assert.equal(conf.get('supervisord')?.get('nodaemon'), 'true');
    assert.match(conf.get('program:cron')?.get('command') ?? '', /^cron -f$/);
    const listener = conf.get('eventlistener:fatal-exit');
    assert.equal(listener?.get('events'), 'PROCESS_STATE_FATAL,PROCESS_STATE_EXITED');
    assert.match(conf.get('supervisorctl')?.get('serverurl') ?? '', /^unix:\/\/%\(ENV_/);
    assert.match(conf.get('unix_http_server')?.get('file') ?? '', /^%\(ENV_/);
    assert.equal(existsSync(join(repoDir, 'supervisord.conf')), true, 'linked at the top level');
  });

  test('Dockerfile: multi-stage on node:24-slim with the required instructions', () => {
    const all = readDockerfile();
    const froms = all.filter((i) => i.keyword === 'FROM');
    assert.deepEqual(
      froms.map((i) => i.args),
      ['node:24-slim AS build', 'node:24-slim AS runtime'],
    );
    const runtime = all.filter((i) => i.stage === 1);
    const build = all.filter((i) => i.stage === 0);
    const has = (list: typeof all, keyword: string, pattern: RegExp): boolean =>
      list.some((i) => i.keyword === keyword && pattern.test(i.args));

    assert.ok(has(build, 'RUN', /^npm ci\b(?!.*--omit)/), 'build: all dependencies');
    assert.ok(has(build, 'RUN', /typescript\/bin\/tsc -p tsconfig\.json/), 'build: tsc');
    assert.ok(has(runtime, 'RUN', /^npm ci --omit=dev\b/), 'runtime: production deps only');
    assert.ok(has(runtime, 'COPY', /^--from=build \S+\/dist\/src \.\/dist\/src$/));
    assert.ok(has(runtime, 'COPY', /^config \.\/config$/));
    assert.ok(
      has(runtime, 'RUN', /apt-get install -y --no-install-recommends .*\bsupervisor\b/) &&
        has(runtime, 'RUN', /apt-get install .*\bcron\b.*\bcurl\b/),
      'supervisor, cron, curl from apt',
    );
    assert.ok(has(runtime, 'RUN', /rm -rf \/var\/lib\/apt\/lists/), 'apt lists removed');
    assert.ok(has(runtime, 'RUN', /useradd .*\bapp\b/), 'a non-root app user');
    assert.ok(has(runtime, 'ENV', /\bAPP_USER=app\b/), 'the service runs as app');
    assert.ok(!has(all, 'USER', /^(root|0)$/));
    assert.ok(has(runtime, 'STOPSIGNAL', /^SIGTERM$/));
    assert.ok(has(runtime, 'HEALTHCHECK', /CMD \["\/app\/docker\/healthcheck\.sh"\]$/));
    const healthcheck = readFileSync(join(repoDir, 'docker', 'healthcheck.sh'), 'utf8');
    assert.match(
      healthcheck,
      /curl -fsS --fail-early --max-time "\$max_time"/,
      'the check bounds itself',
    );
    assert.ok(has(runtime, 'ARG', /^VERSION\b/) && has(runtime, 'ARG', /^COMMIT\b/));
    assert.ok(has(runtime, 'LABEL', /org\.opencontainers\.image\.version="\$\{VERSION\}"/));
    assert.ok(has(runtime, 'LABEL', /org\.opencontainers\.image\.revision="\$\{COMMIT\}"/));
    assert.ok(has(runtime, 'ENTRYPOINT', /^\["\/usr\/local\/bin\/entrypoint\.sh"\]$/));
  });

  test('Dockerfile ENV sets every variable supervisord.conf expands', () => {
    const env = readDockerfile()
      .filter((i) => i.stage === 1 && i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/\b([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]));
    const conf = readFileSync(join(repoDir, 'config', 'supervisord.conf'), 'utf8')
      .split('\n')
      .filter((l) => !/^\s*[;#]/.test(l))
      .join('\n');
    const needed = [...new Set([...conf.matchAll(/%\(ENV_(\w+)\)s/g)].map((m) => m[1]))];
    assert.ok(needed.length >= 4);
    for (const name of needed) assert.ok(env.includes(name), `ENV ${name}`);
  });

  test('every COPY source exists and is not excluded by .dockerignore', () => {
    const ignored = readFileSync(join(repoDir, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = readDockerfile()
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    assert.ok(sources.length >= 5);
    for (const source of sources) {
      assert.ok(existsSync(join(repoDir, source)), `${source} exists`);
      const top = source.split('/')[0]!;
      assert.ok(!ignored.includes(top) && !ignored.includes(source), `${source} not ignored`);
    }
  });
});

describe('docker/healthcheck.sh (the HEALTHCHECK) against the real health endpoint', () => {
  /** The check's exit code against an endpoint listening on `listen`, with `HEALTH_HOST`. */
  async function check(
    listen: string,
    healthHost: string | undefined,
    health = new HealthChecks(),
  ): Promise<number> {
    const server = new HealthServer({
      port: 0,
      host: listen,
      health,
      log: captureLogger().log,
    });
    await server.start();
    try {
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HEALTH_PORT: String(server.address?.port),
        HEALTHCHECK_MAX_TIME_S: '2',
        ...(healthHost !== undefined && { HEALTH_HOST: healthHost }),
      };
      return (await runFile('sh', ['docker/healthcheck.sh'], { env, cwd: repoDir })).code;
    } finally {
      await server.close();
    }
  }

  test('it asks the address HEALTH_HOST names: a wildcard through loopback, IPv6 in brackets', async () => {
    // Before: always 127.0.0.1, so an endpoint on ::1 (or a pod's address) was unhealthy for good.
    assert.equal(await check('::1', '::1'), 0);
    assert.equal(await check('127.0.0.2', '127.0.0.2'), 0);
    assert.equal(await check('0.0.0.0', '0.0.0.0'), 0);
    assert.equal(await check('::', '::'), 0);
    assert.equal(await check('127.0.0.1', undefined), 0);
    // And it does not answer healthy for an endpoint it cannot reach.
    assert.notEqual(await check('127.0.0.2', '127.0.0.1'), 0);
  });

  test('healthy is live and ready: a service not ready (starting, stopping, blocked) or not live is unhealthy', async () => {
    // /healthz (liveness) alone read healthy during a start-up that never got ready: a compose
    // file's depends_on: service_healthy started its dependants, the healthchecks line pinged.
    const withChecks = (live: boolean, ready: boolean): HealthChecks => {
      const health = new HealthChecks();
      health.addLiveness('threads', () => ({ ok: live }));
      health.addReadiness('started', () => ({ ok: ready }));
      return health;
    };
    assert.equal(await check('127.0.0.1', undefined, withChecks(true, true)), 0);
    assert.notEqual(await check('127.0.0.1', undefined, withChecks(true, false)), 0);
    assert.notEqual(await check('127.0.0.1', undefined, withChecks(false, true)), 0);
  });
});

describe('scripts/containers-conf.py (the settings podman needs, written by image.sh)', () => {
  test('sets keys in place or under their section, keeps every other line, and is idempotent', async () => {
    const dir = makeRoot();
    roots.push(dir);
    const file = join(dir, 'containers.conf');
    writeFileSync(
      file,
      '# the admin\'s own\n[containers]\nlog_size_max = 1000\n\n[engine]\nruntime = "crun"\n',
    );
    const settings = [
      'containers.default_ulimits=["nofile=20000:20000"]',
      'engine.runtime="runc"',
      'engine.events_logger="file"',
      'network.network_backend="netavark"',
    ];
    const first = await run('python3', ['scripts/containers-conf.py', file, ...settings]);
    assert.equal(first.code, 0, first.output);
    const written = readFileSync(file, 'utf8');
    assert.equal(
      written,
      '# the admin\'s own\n[containers]\ndefault_ulimits = ["nofile=20000:20000"]\n' +
        'log_size_max = 1000\n\n[engine]\nevents_logger = "file"\nruntime = "runc"\n' +
        '\n[network]\nnetwork_backend = "netavark"\n',
    );
    const second = await run('python3', ['scripts/containers-conf.py', file, ...settings]);
    assert.equal(second.code, 0, second.output);
    assert.equal(second.output, '', 'nothing to update');
    assert.equal(readFileSync(file, 'utf8'), written);
    const bad = await run('python3', ['scripts/containers-conf.py', file, 'no-section=1']);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /expected SECTION\.KEY=VALUE, got 'no-section=1'/);
  });
});

describe('npm run compose (scripts/render-compose.mjs)', () => {
  test('renders docker-compose.yml as YAML with the required keys', async () => {
    const dir = makeRoot();
    roots.push(dir);
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, 'APP_ENV=staging\n# comment\nSYSLOG_TAG="orders worker"\n');
    const out = join(dir, 'docker-compose.yml');
    const result = await renderCompose({ IMAGE_TAG: '1.2.3' }, dotenv, out);
    assert.equal(result.code, 0, result.stderr);

    const doc = readYaml(out) as {
      services: Record<string, Record<string, unknown>>;
    };
    const app = doc.services['app']!;
    assert.equal(app['image'], 'worker-base:1.2.3');
    assert.equal(app['restart'], 'unless-stopped');
    assert.equal(app['stop_grace_period'], '60s');
    assert.equal(app['stop_signal'], 'SIGTERM');
    assert.equal(app['env_file'], '.env');
    assert.equal(app['read_only'], true);
    assert.deepEqual(app['tmpfs'], ['/run:mode=0755', '/tmp', '/etc/cron.d:mode=0755']);
    assert.deepEqual(app['environment'], { APP_ENV: 'staging' });
    const healthcheck = app['healthcheck'] as { test: string[] };
    assert.deepEqual(healthcheck.test, ['CMD', '/app/docker/healthcheck.sh']);
    const logging = app['logging'] as { driver: string; options: Record<string, string> };
    assert.equal(logging.driver, 'syslog');
    assert.equal(logging.options['tag'], 'orders worker');
    assert.equal(logging.options['syslog-address'], 'udp://127.0.0.1:514');
    for (const name of ['rabbitmq', 'victoria-metrics']) {
      assert.deepEqual(
        doc.services[name]?.['profiles'],
        ['dev'],
        `${name} only with --profile dev`,
      );
    }
  });

  test('the environment wins over .env', async () => {
    const dir = makeRoot();
    roots.push(dir);
    writeFileSync(join(dir, '.env'), 'APP_ENV=staging\n');
    const out = join(dir, 'docker-compose.yml');
    const result = await renderCompose({ APP_ENV: 'production' }, join(dir, '.env'), out);
    assert.equal(result.code, 0, result.stderr);
    const doc = readYaml(out) as { services: { app: { environment: Record<string, string> } } };
    assert.equal(doc.services.app.environment['APP_ENV'], 'production');
  });

  test('a missing required variable fails, names it, and writes nothing', async () => {
    const dir = makeRoot();
    roots.push(dir);
    const out = join(dir, 'docker-compose.yml');
    const result = await renderCompose({}, join(dir, 'absent.env'), out);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /compose: APP_ENV is not set \(.*docker-compose\.template:\d+: set APP_ENV/,
    );
    assert.match(result.stderr, /nothing written/);
    assert.equal(existsSync(out), false);
  });

  test('a malformed .env line fails with its file and line number', async () => {
    const dir = makeRoot();
    roots.push(dir);
    writeFileSync(join(dir, '.env'), 'APP_ENV=staging\nnot a setting\n');
    const out = join(dir, 'docker-compose.yml');
    const result = await renderCompose({}, join(dir, '.env'), out);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\.env:2: expected KEY=VALUE/);
    assert.equal(existsSync(out), false);
  });
});
