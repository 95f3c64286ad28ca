import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { mainScript, repoRoot, testEnv } from '../helpers/service-process.js';

/**
 * On a terminal the log is for a person: pino-pretty, in colour. The service runs under
 * `script`, which gives it a real pseudo-terminal as stdout.
 */

test('on a TTY the service logs pretty, coloured lines, and TERM still stops it with 0', async (t) => {
  const env = testEnv({ FIXTURE_TICK_MS: '600000' });
  delete env['LOG_PRETTY']; // the default, auto: pretty because stdout is a TTY
  const command = `exec '${process.execPath}' '${mainScript}'`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let servicePid: number | undefined;
  t.after(() => {
    // Killing `script` alone would do: the pty's hang-up (a HUP, "toggle debug logging")
    // makes the service log into a closed terminal, which stops it (log-output.test.ts).
    // Killed here all the same, so that nothing outlives a failed test.
    if (servicePid !== undefined) {
      try {
        process.kill(servicePid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let text = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      // "[15:33:43.903] INFO (9786): ready" with colour codes around the level and message
      servicePid ??= Number(/\((\d+)\): /.exec(text)?.[1] ?? Number.NaN) || undefined;
      const m = /INFO\S* \((\d+)\): \S*ready/.exec(text);
      if (m) resolve(m[1] as string);
    });
    void exited.then(() => reject(new Error(`exited before ready:\n${text}`)));
  });
  const pid = Number(await ready);
  servicePid = pid;
  assert.match(text, /\x1b\[32mINFO\x1b\[39m/, 'the level is coloured');
  assert.ok(!/^\{"level"/m.test(text), 'no JSON lines');
  // The ready line's fields are on the lines below it, which may come in a later chunk (a
  // CI run read the line without them).
  const fields = /workers(\x1b\[\d+m)?: \[/;
  for (const until = performance.now() + 5000; !fields.test(text) && performance.now() < until;) {
    await Promise.race([
      once(child.stdout, 'data'),
      delay(until - performance.now(), undefined, { ref: false }),
    ]);
  }
  assert.match(text, fields, 'fields are spelled out below the line');
  process.kill(pid, 'SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, text.slice(-2000));
  assert.match(text, /shutdown complete/);
});
