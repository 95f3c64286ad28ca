import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { repoRoot } from '../helpers/service-process.js';
import {
  childrenOf,
  commandLine,
  descendantsOf,
  exitWithin,
  isAlive,
  isRunning,
  nodeChild,
  nodeChildOf,
  npmRun,
} from '../helpers/npm-run.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The npm scripts hand a stop on to the service: `npm start` under a process manager gets a
 * TERM to the npm process, and the chain npm -> sh -> bash scripts/run.sh -> node must carry
 * it (each step execs the next), so the service stops cleanly and npm exits with its code.
 * Real npm, real signals. `npm start` runs whatever app is at dist/src/app/main.js (run.sh's
 * contract; a fork's app too): these tests assume nothing of it but `ready`. The sample's own
 * commands and worker names: test/app/npm-scripts.test.ts.
 */

const serviceEnv = { LOG_PRETTY: 'false', ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*' };

test('a TERM to `npm start` stops the service cleanly, and npm exits with its code, 0', async (t) => {
  const run = npmRun(t, ['start'], serviceEnv);
  const node = await nodeChild(t, run.npm, 'dist/src/app/main.js');
  await run.waitForText('"msg":"ready"');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), ExitCode.OK, run.lines.slice(-5).join('\n'));
  assert.ok(run.lines.some((l) => l.includes('"msg":"shutdown complete"')));
  // Before the fix npm exited at once (143) and node went on running, orphaned.
  assert.equal(isAlive(node), false, 'the service is not left running');
});

test('Ctrl-C on `npm start` (INT to the foreground group: npm and the service, and npm sends it on) stops the service cleanly, 0', async (t) => {
  // The service got INT twice, from the terminal and from npm (npm/cli#5021), and took the
  // second for an operator's second Ctrl-C: 'second stop signal; forcing exit', 130, the
  // shutdown's steps cut short.
  const run = npmRun(t, ['start'], serviceEnv, true);
  const node = await nodeChild(t, run.npm, 'dist/src/app/main.js');
  await run.waitForText('"msg":"ready"');
  process.kill(-(run.npm.pid ?? 0), 'SIGINT');
  assert.equal(await exitWithin(run, 15_000), ExitCode.OK, run.lines.slice(-5).join('\n'));
  assert.ok(run.lines.some((l) => l.includes('"msg":"shutdown complete"')));
  assert.ok(!run.lines.some((l) => l.includes('second stop signal')));
  assert.equal(isAlive(node), false, 'the service is not left running');
});

test('a TERM to `npm test` stops the test run it started, and npm exits', async (t) => {
  const run = npmRun(t, ['test', '--', 'dist/test/fixtures/sleeps-test.js']);
  const runner = await nodeChildOf(t, run.npm, '--test-reporter=spec');
  // The runner starts one process per test file: wait for it, so it is watched (and killed) too.
  for (let i = 0; i < 200 && childrenOf(runner).length === 0; i++) await delay(50);
  const running = descendantsOf(run.npm.pid ?? -1);
  t.after(() => {
    for (const pid of running) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
  run.npm.kill('SIGTERM');
  assert.notEqual(await exitWithin(run, 15_000), 0);
  // Before, bash died of the TERM and node --test went on, orphaned.
  for (let i = 0; i < 100 && running.some(isRunning); i++) await delay(50);
  assert.deepEqual(running.filter(isRunning).map(commandLine), [], 'nothing left running');
});

test('every npm script execs run.sh, and run.sh execs node for each long-running command', () => {
  const pkg = JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as {
    scripts: Record<string, string>;
  };
  for (const [name, command] of Object.entries(pkg.scripts)) {
    if (!command.includes('scripts/run.sh')) continue;
    assert.match(command, /^exec bash scripts\/run\.sh /, `npm script ${name}`);
  }
  const runSh = readFileSync(`${repoRoot}/scripts/run.sh`, 'utf8');
  for (const command of ['start', 'subscribe', 'bench', 'chaos', 'compose']) {
    // The command's case branch, from `command)` to its `;;`: a step may come before the exec.
    const branch = new RegExp(`^\\s*${command}\\)([\\s\\S]*?);;`, 'm').exec(runSh)?.[1] ?? '';
    assert.match(branch, /(?:^|\n)\s*exec "\$node" /, `run.sh ${command}`);
  }
});
