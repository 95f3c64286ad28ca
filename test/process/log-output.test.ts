import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { ServiceProcess, mainScript, repoRoot, testEnv } from '../helpers/service-process.js';
import { isRunning } from '../helpers/npm-run.js';
import { isNonBlocking } from '../helpers/fd-flags.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The log output goes away under a running service: its reader dies, its terminal closes, its
 * disk fills. A service nobody can see stops as a dependency failure (69), saying why on
 * stderr, instead of running on unseen or hanging in a write that cannot succeed.
 */

/** The stderr line's JSON part, parsed (the line after the one for a person). */
function lostOutputLine(stderr: string): Record<string, unknown> {
  const json = stderr.split('\n').find((l) => l.startsWith('{"level"'));
  assert.ok(json, `no JSON line on stderr:\n${stderr}`);
  return JSON.parse(json) as Record<string, unknown>;
}

test('stdout on a full disk (ENOSPC): the service stops with 69 by itself and says why on stderr', async (t) => {
  const full = openSync('/dev/full', 'w');
  const child = spawn(process.execPath, [mainScript], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', ...testEnv() },
    stdio: ['ignore', full, 'pipe'],
  });
  closeSync(full);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stderr = text(child.stderr!);
  // No TERM: the first line it could not write is the failure. (Before, it ran on, and a TERM
  // then hung it for ever in the log's flush.)
  const exited = once(child, 'exit');
  const [code] = (await Promise.race([
    exited,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the service did not stop within 20 s')), 20_000).unref(),
    ),
  ])) as [number | null];
  const said = await stderr;
  assert.equal(code, ExitCode.DEPENDENCY_FAILURE, said);
  assert.match(said, /^log output: stdout cannot be written \(ENOSPC\); the service stops$/m);
  const line = lostOutputLine(said);
  assert.equal(line['msg'], 'log output lost; stopping');
  assert.equal(line['exitCode'], ExitCode.DEPENDENCY_FAILURE);
  assert.equal((line['err'] as { code?: string }).code, 'E_DEPENDENCY');
});

test('the reader of stdout is gone (EPIPE): the next line stops the service with 69', async (t) => {
  const service = new ServiceProcess({ env: testEnv({ FIXTURE_TICK_MS: '600000' }) });
  t.after(() => service.stop());
  await service.waitFor('ready');
  // Our end of its stdout closes; a HUP makes it log (debug on), into the broken pipe.
  service.child.stdout!.destroy();
  service.signal('SIGHUP');
  const { code } = await service.waitForExit(20_000);
  const stderr = service.stderr.join('\n');
  assert.equal(code, ExitCode.DEPENDENCY_FAILURE, stderr);
  assert.match(stderr, /stdout cannot be written \(EPIPE\)/);
  assert.equal(lostOutputLine(stderr)['msg'], 'log output lost; stopping');
});

test('the reader of stdout gone during a requested stop (Ctrl-C on `npm start | pino-pretty`): the stop goes on, 0', async (t) => {
  // The same keypress ends the reader and stops the service: its next line failed the stop
  // with 69 and an error on the terminal (measured on the sample under tmux, `| tee`).
  const service = new ServiceProcess({ env: testEnv({ FIXTURE_TICK_MS: '600000' }) });
  t.after(() => service.stop());
  await service.waitFor('ready');
  service.signal('SIGINT');
  service.child.stdout!.destroy();
  const { code } = await service.waitForExit(20_000);
  const stderr = service.stderr.join('\n');
  assert.equal(code, ExitCode.OK, stderr);
  assert.match(
    stderr,
    /^log output: stdout cannot be written \(EPIPE\) during the stop; its remaining lines are dropped$/m,
  );
  assert.equal(
    lostOutputLine(stderr)['msg'],
    'log output lost during a requested stop; it goes on',
  );
});

test('its terminal closes (EIO after the hang-up): the service stops instead of running on unseen', async (t) => {
  // The service runs on the pseudo-terminal `script` makes, its stderr on a pipe of ours
  // (fd 3 of `script`, which its child inherits). Killing `script` closes the terminal.
  const command = `exec '${process.execPath}' '${mainScript}' 2>&3`;
  const env = testEnv({ FIXTURE_TICK_MS: '600000' });
  delete env['LOG_PRETTY']; // auto: pretty, because stdout is a TTY
  const script = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let servicePid: number | undefined;
  t.after(() => {
    for (const pid of [servicePid, script.pid]) {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const serviceStderr = script.stdio[3] as NodeJS.ReadableStream;
  // Its stderr pipe ends when the service has exited (it was the last to hold it).
  const stderr = text(serviceStderr);
  let shown = '';
  await new Promise<void>((resolve, reject) => {
    script.stdout!.on('data', (chunk: Buffer) => {
      shown += chunk.toString();
      const m = /INFO\S* \((\d+)\): \S*ready/.exec(shown);
      if (m) {
        servicePid = Number(m[1]);
        resolve();
      }
    });
    script.on('exit', () => reject(new Error(`script exited before ready:\n${shown}`)));
  });
  script.kill('SIGKILL');
  const said = await Promise.race([
    stderr,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error('the service still runs 20 s after its terminal closed')),
        20_000,
      ).unref(),
    ),
  ]);
  assert.match(said, /stdout cannot be written \(EIO\)/);
  assert.equal(lostOutputLine(said)['exitCode'], ExitCode.DEPENDENCY_FAILURE);
  // Its stderr ended as it began to exit; the kernel then takes a moment to tear the
  // process down (not our child: nothing tells us when). Gone, or a zombie until init reaps it.
  const deadline = performance.now() + 5_000;
  while (isRunning(servicePid!) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(isRunning(servicePid!), false, 'the service is still there');
});

test("worker threads' console output reaches stdout and stderr, and stdout stays blocking", async (t) => {
  // Node pipes a worker's stdout and stderr into process.stdout and process.stderr, and making
  // those for a pipe sets O_NONBLOCK on fds 1 and 2, for the whole process: the first worker
  // did it, and the log sink's blocking write waited out EAGAIN 10 ms at a time instead.
  // (Fd 2 is made non-blocking all the same by Node's own node:assert, which sonic-boom loads
  // under pino: its colours read process.stderr.isTTY. Not asserted here.)
  const probe = fileURLToPath(new URL('../fixtures/console-probe.js', import.meta.url));
  const service = new ServiceProcess({
    env: testEnv({ NODE_OPTIONS: `--import=${probe}`, FIXTURE_TICK_MS: '60000' }),
  });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready');
  const workers = (ready['workers'] as string[]).length;
  assert.equal(isNonBlocking(service.pid, 1), false, 'stdout made non-blocking');
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
  const printed = service.lines.filter((l) => String(l.text).startsWith('console-probe stdout'));
  assert.equal(printed.length, workers, service.tail());
  assert.match(String(printed[0]?.text), /ünïcödé$/);
  const errors = service.stderr.filter((l) => l.startsWith('console-probe stderr'));
  assert.equal(errors.length, workers, service.stderr.join('\n'));
});

test('a secret printed with console, in a worker thread or in main, is masked as on log lines', async (t) => {
  // They went out whole: console bypassed the logger's redaction, in every thread.
  const probe = fileURLToPath(new URL('../fixtures/console-probe.js', import.meta.url));
  const token = 'tok_Console42"xyz';
  const service = new ServiceProcess({
    env: testEnv({
      NODE_OPTIONS: `--import=${probe}`,
      FIXTURE_TICK_MS: '60000',
      INFLUX_TOKEN: token,
      PROBE_PRINTS: token,
    }),
  });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready');
  const workers = (ready['workers'] as string[]).length;
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
  const output = [...service.lines.map((l) => JSON.stringify(l)), ...service.stderr].join('\n');
  assert.ok(!output.includes('Console42'), output);
  const printed = service.lines.filter((l) => String(l.text).startsWith('console-probe secret'));
  assert.equal(printed.length, workers, service.tail());
  assert.equal(printed[0]?.text, 'console-probe secret [Redacted]');
  const main = service.lines.find((l) => String(l.text).startsWith('console-probe main secret'));
  assert.equal(main?.text, "console-probe main secret { secret: '[Redacted]' }", service.tail());
  assert.ok(
    service.stderr.includes('console-probe main stderr [Redacted]'),
    service.stderr.join('\n'),
  );
});
