import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoDir } from '../helpers/supervisord.js';
import { runFile } from '../helpers/exec.js';

/**
 * docker/fatal-listener.py driven through supervisord's event-listener protocol by the test,
 * to put in READY_FILE's place what supervisord's run cannot easily: the listener runs as root
 * and reads a file in a directory the service's user owns. (The whole tree, with the real
 * supervisord, is in supervisord.test.ts.)
 */

/** One listener, its limits too high to act: it must only say what it counted. */
class Listener {
  readonly #child: ChildProcessWithoutNullStreams;
  #stdout = '';
  #stderr = '';
  #serial = 0;
  readonly #waiters = new Set<() => void>();

  constructor(readyFile: string) {
    // A shell in between: were the listener to give up, the TERM it sends its parent would
    // reach this shell, not the test's runner. (`; exit $?`: the shell does not exec it.)
    this.#child = spawn(
      'sh',
      [
        '-c',
        'python3 "$@" 2>&1; exit $?',
        'sh',
        join(repoDir, 'docker/fatal-listener.py'),
        `--ready-file=${readyFile}`,
        'app',
      ],
      {
        detached: true, // its own process group: close() ends the listener behind the shell too
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          SUPERVISOR_ENABLED: '1',
          CRASH_LOOP_LIMIT: '1000',
          NEVER_READY_LIMIT: '1000',
        },
      },
    );
    const wake = (): void => {
      for (const waiter of this.#waiters) waiter();
    };
    this.#child.stdout.on('data', (chunk: Buffer) => {
      this.#stdout += chunk.toString();
      wake();
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
      wake();
    });
    this.#child.on('exit', wake);
  }

  /**
   * Resolves once stdout holds `text`, with what came before it (both taken), or rejects
   * saying what it holds.
   */
  #take(text: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const at = this.#stdout.indexOf(text);
        if (at !== -1) {
          const before = this.#stdout.slice(0, at);
          this.#stdout = this.#stdout.slice(at + text.length);
          done();
          resolve(before);
        } else if (this.#child.exitCode !== null) {
          done();
          reject(
            new Error(`the listener exited (${String(this.#child.exitCode)}): ${this.#stderr}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no ${JSON.stringify(text)} from the listener within ${String(timeoutMs)} ms; it wrote: ${this.#stdout} ${this.#stderr}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Sends supervisord's event for an unexpected exit of `pid` and waits for the listener's
   * answer; returns what it logged meanwhile (its stderr goes to the same pipe, in order).
   */
  async exited(pid: number): Promise<string> {
    await this.#take('READY\n', 5_000);
    this.#serial += 1;
    const payload = `processname:app groupname:app from_state:RUNNING expected:0 pid:${String(pid)}`;
    this.#child.stdin.write(
      `ver:3.0 server:supervisor serial:${String(this.#serial)} pool:fatal poolserial:${String(this.#serial)} eventname:PROCESS_STATE_EXITED len:${String(Buffer.byteLength(payload))}\n${payload}`,
    );
    return await this.#take('RESULT 2\nOK', 5_000);
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end(); // supervisord closing its stdin: the listener returns 0
    const timer = setTimeout(() => {
      if (this.#child.pid !== undefined) process.kill(-this.#child.pid, 'SIGKILL');
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('fatal-listener.py and READY_FILE', () => {
  let dir: string;
  let readyFile: string;
  let listener: Listener;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'worker-base-listener-'));
    readyFile = join(dir, 'ready');
    listener = new Listener(readyFile);
  });
  after(async () => {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const reset = (): void => rmSync(readyFile, { force: true });
  const notReady = /app exited before it got ready: (\d+) runs in a row/;

  test('a run whose pid READY_FILE holds got ready; a missing file or another pid did not', async () => {
    reset();
    writeFileSync(readyFile, '4242\n');
    assert.doesNotMatch(await listener.exited(4242), notReady);
    assert.match(await listener.exited(4343), notReady);
    reset();
    const said = await listener.exited(4242);
    assert.match(said, notReady);
    assert.doesNotMatch(said, /cannot be read/, 'no file is no news');
  });

  test('a FIFO in its place is not opened to wait for a writer: the listener answers, the run counts as never ready', async () => {
    reset();
    const made = await runFile('mkfifo', [readyFile]);
    assert.equal(made.code, 0, made.stderr);
    const said = await listener.exited(4242);
    assert.match(said, notReady);
    assert.match(said, /ready is not a regular file; the run counts as never ready/);
  });

  test('a link is not followed: not to /dev/zero (endless), not to a file holding the pid', async () => {
    reset();
    symlinkSync('/dev/zero', readyFile);
    const zero = await listener.exited(4242);
    assert.match(zero, notReady);
    assert.match(zero, /ready cannot be read \(.+\); the run counts as never ready/);
    reset();
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, '4242\n');
    symlinkSync(elsewhere, readyFile);
    assert.match(await listener.exited(4242), notReady);
  });
});
