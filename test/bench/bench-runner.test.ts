import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bench = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** Runs the bench runner; resolves with its exit code and output whatever the code. */
async function runBench(args: string[], env: Record<string, string>, cwd?: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bench, ...args], {
      env,
      timeout: 60_000,
      ...(cwd === undefined ? {} : { cwd }),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('a bench group that cannot run says why in one line and fails the bench, no stack trace', async (t) => {
  // A PATH with only `sh` on it: no rabbitmqctl, no supervisord.
  const bin = mkdtempSync(join(tmpdir(), 'bench-path-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const out = join(bin, 'results.json');
  const { code, stdout, stderr } = await runBench(['--only', 'amqp,restart', '--out', out], {
    PATH: bin,
  });
  assert.equal(code, 1, `exit code; stderr:\n${stderr}`);
  assert.match(stderr, /^bench: restart cannot run: supervisord is not on PATH .*$/m);
  assert.match(stderr, /^bench: amqp cannot run: rabbitmqctl is not on PATH .*$/m);
  assert.match(stdout, /^FAILED amqp: cannot run: rabbitmqctl is not on PATH/m);
  assert.doesNotMatch(stderr + stdout, /^\s+at /m, 'no stack trace');
});

test('--out may be a relative path: the results are written there, under the working directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync('/bin/sh', join(dir, 'sh'));
  // The amqp group cannot run (no rabbitmqctl on PATH): the bench still writes what it has.
  const { code, stderr } = await runBench(
    ['--only', 'amqp', '--out', 'sub/results.json'],
    { PATH: dir },
    dir,
  );
  assert.equal(code, 1, stderr);
  assert.doesNotMatch(stderr, /FAILED: File URL/);
  const written = JSON.parse(readFileSync(join(dir, 'sub', 'results.json'), 'utf8')) as {
    failed?: Record<string, string>;
  };
  assert.match(written.failed?.['amqp'] ?? '', /rabbitmqctl is not on PATH/);
});

test('an unknown bench group is refused with the list of groups', async () => {
  const { code, stderr } = await runBench(['--only', 'nope'], { PATH: process.env['PATH'] ?? '' });
  assert.equal(code, 2);
  assert.match(stderr, /no group nope; the groups: process, .*amqp/);
});
