import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { appFiles, readReadme, section } from '../helpers/readme.js';
import { ServiceProcess, repoRoot } from '../helpers/service-process.js';

/**
 * The fork test, the contract between the core and every fork: copy the project to a
 * temporary directory, delete what a fork deletes, write in its place the minimal app that the
 * README's Forking section shows (read from the README, so the two cannot drift apart), then
 * build it with the project's tsconfig, run `npm run lint` there (the public-door rule
 * included), run the core test suite there, and start it: `ready`, TERM, exit 0. Each step
 * says what failed and ends with the tail of its output; a step after a failed one is skipped.
 */

/** What a fork deletes: the sample app and the sample's tests. */
const forkDeletes = ['src/app', 'test/app'];

/**
 * Tests that stay behind in the copy although they are not the sample's own: they run
 * `bench/`, which measures and soaks the sample app (its pipeline, its `SAMPLE_*` settings,
 * its events on a broker): the bench's tests (test/bench) and the chaos soak
 * (test/serial/chaos.test.ts, `npm run chaos` in small). A fork measures and soaks its own
 * app. Every other core test of the parallel tier runs in the fork but those in notRepeated.
 */
const stillOnTheSample = ['test/bench', 'test/serial/chaos.test.ts'];

/**
 * Core tests not run a second time here, each paced by timings that are not the code's (a
 * supervisor's windows, a fault's length), each on fixtures of the core that a fork keeps as
 * they are, so nothing a fork changes is in what they run. The two longest have a fixture
 * service linked into an APP_DIR of its own and the supervisord.conf and entrypoint.sh a fork
 * keeps: the pill drill (test/process/amqp-pill.test.ts) paces 300 events over a minute and a
 * half; the supervisord test (test/container/supervisord.test.ts) waits out start-up windows,
 * a FATAL and a crash loop. Repeated here, they took CI past its 20 minutes on a slow hour
 * (20 min 19 s; the fork tier 385 s, these two 111 and 108 s in the parallel tier). The main
 * watchdog's tests (test/process/main-stall.test.ts, 62 s) and the sentinels' over a host
 * process (test/unit/lifecycle/sentinel.test.ts, 35 s) wait out stalls, pauses and stops; with
 * them repeated CI took 17.9 min (1,076 s). All run in this tree's parallel tier.
 */
const notRepeated = [
  'test/process/amqp-pill.test.ts',
  'test/container/supervisord.test.ts',
  'test/process/main-stall.test.ts',
  'test/unit/lifecycle/sentinel.test.ts',
];

/**
 * The core suite: the parallel tier of `npm test` (scripts/run.sh), where every core test but
 * the broker drills runs. The image tier (podman) and the serial tier (stopping the shared
 * broker, a memory alarm: the same core code they just ran on in this tree's own serial tier)
 * stay out: with them the fork tier took 8.8 minutes and CI 21, past its 20-minute budget.
 */
const coreTiers = 'parallel';

/** Not copied: made again (dist) or linked in (node_modules, .tooling). */
const notCopied = new Set(['.git', 'dist', 'node_modules', '.tooling']);
const linked = ['node_modules', '.tooling'];

const minutes = 60_000;
let fork = '';
let failedStep: string | undefined;

/** Runs one step; a step after a failed (or timed-out) one is skipped, naming it. */
function step(name: string, timeoutMs: number, body: () => Promise<void>): void {
  // The test's own timeout is a backstop: the commands time out first, with their output.
  test(name, { timeout: timeoutMs + minutes }, async (t) => {
    if (failedStep !== undefined) {
      t.skip(`not run: '${failedStep}' failed`);
      return;
    }
    failedStep = name;
    await body();
    failedStep = undefined;
  });
}

/**
 * Runs a command in the fork; rejects, naming the step and quoting the last lines of its
 * output, when it exits non-zero or outlives `timeoutMs` (then it is stopped with TERM).
 */
async function run(
  stepName: string,
  command: string,
  args: string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<void> {
  const environment = { ...process.env, ...env };
  // Set by the test runner for its child processes: a nested run would report to us instead.
  delete environment['NODE_TEST_CONTEXT'];
  const child = spawn(command, args, {
    cwd: fork,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer): void => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    output.push(...lines);
    if (output.length > 2_000) output.splice(0, output.length - 1_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
  }, timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (code === 0 && !timedOut) return;
  const tail = [...output, partial].filter((line) => line !== '').slice(-60);
  const how = timedOut ? `did not finish within ${timeoutMs / 1000} s` : `exited ${code ?? signal}`;
  throw new Error(
    `fork test, step '${stepName}': \`${command} ${args.join(' ')}\` ${how}; the last lines:\n${tail.join('\n')}`,
  );
}

const runCommand = async (cmd: string, args: string[], cwd: string): Promise<void> => {
  await promisify(execFile)(cmd, args, { cwd });
};

describe('a fork: the README minimal app in place of src/app, on the core as it is', () => {
  before(async () => {
    fork = await mkdtemp(join(tmpdir(), 'worker-base-fork-'));
    await cp(repoRoot, fork, {
      recursive: true,
      // Timestamps kept: setup.sh reinstalls node_modules when package-lock.json looks newer.
      preserveTimestamps: true,
      filter: (source) => !notCopied.has(source.slice(repoRoot.length).split('/')[0] ?? ''),
    });
    for (const name of linked) await symlink(join(repoRoot, name), join(fork, name));
    for (const path of [...forkDeletes, ...stillOnTheSample, ...notRepeated]) {
      await rm(join(fork, path), { recursive: true, force: true });
    }
    // A fork is a git repository: setup.sh stamps the build with its commit (the version on
    // every log line, which the core's lifecycle test checks).
    const git = (...args: string[]) =>
      runCommand('git', ['-c', 'user.name=fork', '-c', 'user.email=fork@localhost', ...args], fork);
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'fork');
  });
  after(async () => {
    if (fork !== '') await rm(fork, { recursive: true, force: true });
  });

  step("writes the README's minimal app: main.ts and a worker", 10_000, async () => {
    const files = appFiles(section(readReadme(), '## Forking'));
    const paths = files.map((f) => f.path);
    assert.ok(paths.includes('src/app/main.ts'), `no src/app/main.ts among ${paths.join(', ')}`);
    assert.ok(
      paths.some((p) => /^src\/app\/.*\.worker\.ts$/.test(p)),
      `no src/app/**/*.worker.ts among ${paths.join(', ')}`,
    );
    for (const { path, text } of files) {
      const target = join(fork, path);
      if (path.endsWith('.json') && (await stat(target).catch(() => undefined)) !== undefined) {
        // A JSON block for a file the project has is the app's part of it: its keys are set.
        const merged = {
          ...(JSON.parse(await readFile(target, 'utf8')) as object),
          ...(JSON.parse(text) as object),
        };
        await writeFile(target, `${JSON.stringify(merged, null, 2)}\n`);
      } else {
        assert.match(path, /^src\/app\//, `the README labels a file outside src/app: ${path}`);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, text);
      }
    }
  });

  step('builds with the project tsconfig (tsc, strict)', 5 * minutes, async () => {
    // setup.sh, as `npm start` and `npm test` build: tsc, and the build stamped with the
    // fork's commit (the suite below runs with SKIP_BUILD=1).
    await run('build', 'bash', ['scripts/setup.sh'], 5 * minutes);
  });

  step(
    'npm run lint passes there: the app reaches the core only through its doors',
    6 * minutes,
    async () => {
      // setup.sh would reinstall the linked node_modules if the lock file looked newer.
      const lock = await stat(join(fork, 'package-lock.json'));
      const installed = await stat(join(fork, 'node_modules/.package-lock.json'));
      assert.ok(
        lock.mtimeMs <= installed.mtimeMs,
        'package-lock.json is newer than node_modules: run npm ci first',
      );
      await run('lint', 'npm', ['run', 'lint'], 6 * minutes, { SKIP_BUILD: '1' });
    },
  );

  step('the core test suite passes there', 20 * minutes, async () => {
    await run('core suite', 'npm', ['test'], 20 * minutes, {
      SKIP_BUILD: '1',
      TEST_TIERS: coreTiers,
    });
  });

  step('it starts: ready, then TERM, exit 0', 2 * minutes, async () => {
    const service = new ServiceProcess({
      script: join(fork, 'dist/src/app/main.js'),
      env: { LOG_PRETTY: 'false' },
    });
    try {
      const ready = await service.waitFor('ready', 60_000);
      assert.ok(
        Array.isArray(ready['workers']) && ready['workers'].length > 0,
        'no workers on the ready line',
      );
      service.signal('SIGTERM');
      const exit = await service.waitForExit(30_000);
      assert.deepEqual(
        exit,
        { code: 0, signal: null },
        `exit after TERM; the last lines:\n${service.tail()}`,
      );
      const complete = await service.waitFor('shutdown complete', 1_000);
      assert.equal(complete['exitCode'], 0);
      const errors = service.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
      assert.deepEqual(errors, [], 'error lines while it ran');
    } finally {
      await service.stop();
    }
  });
});
