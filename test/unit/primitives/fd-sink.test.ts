import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { FdSink } from '../../../src/lib/primitives/fd-sink.js';
import { isNonBlocking } from '../../helpers/fd-flags.js';

/** The main thread's log output (fd-sink.ts), on real descriptors: a file, a pipe, /dev/full. */

/** An error's system code (ENOSPC, EPIPE...). */
function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A new file, open for writing, removed after the test. */
function tempFile(t: TestContext): { file: string; fd: number } {
  const dir = tempDir(t);
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  t.after(() => closeSync(fd));
  return { file, fd };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'fd-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The descriptor under a child's stdin: a pipe end that libuv made non-blocking. */
function pipeFd(stream: unknown): number {
  const fd = (stream as { _handle?: { fd?: number } })._handle?.fd;
  assert.equal(typeof fd, 'number', 'no descriptor under the stream');
  return fd as number;
}

test('lines are written whole and in order, at once (nothing to flush)', (t) => {
  const { file, fd } = tempFile(t);
  const sink = new FdSink(fd);
  sink.write('{"msg":"one"}\n');
  sink.write('{"msg":"ünïcödé ✓"}\n');
  assert.equal(readFileSync(file, 'utf8'), '{"msg":"one"}\n{"msg":"ünïcödé ✓"}\n');
  assert.equal(sink.failure, undefined);
  assert.equal(sink.dropped, 0);
});

test('a line larger than a full non-blocking pipe is written whole (partial writes, EAGAIN waited out)', async (t) => {
  // A slow reader: it starts reading a moment after the write began, when the pipe (64 KiB)
  // has long been full, so the write meets EAGAIN whatever the machine's speed.
  const reader = spawn('sh', ['-c', 'sleep 0.3; exec wc -c'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => reader.kill('SIGKILL'));
  const counted = text(reader.stdout);
  const fd = pipeFd(reader.stdin);
  assert.ok(isNonBlocking('self', fd), 'the pipe is non-blocking');
  const sink = new FdSink(fd);
  // 4 MiB in one line, with multi-byte characters so that a partial write ends mid-character.
  const line = `${'é'.repeat(2 * 1024 * 1024)}\n`;
  sink.write(line);
  sink.write('end\n');
  assert.equal(sink.failure, undefined);
  reader.stdin.end();
  await once(reader, 'exit');
  assert.equal(Number((await counted).trim()), Buffer.byteLength(line) + 4);
});

test('a failed write (ENOSPC) is reported once, on a later turn; later lines are dropped, never thrown', async () => {
  const fd = openSync('/dev/full', 'w');
  try {
    const sink = new FdSink(fd);
    const heard: Error[] = [];
    sink.onFailure((error) => heard.push(error));
    assert.doesNotThrow(() => sink.write('one\n'));
    assert.equal(heard.length, 0, 'not inside the write that failed');
    assert.equal(codeOf(sink.failure), 'ENOSPC');
    sink.write('two\n');
    sink.write('three\n');
    sink.flushSync();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(heard.map(codeOf), ['ENOSPC']);
    assert.equal(sink.dropped, 3);
    // A listener that comes after the failure hears of it too.
    const late = await new Promise<Error>((resolve) => sink.onFailure(resolve));
    assert.equal(late, sink.failure);
  } finally {
    closeSync(fd);
  }
});

test('the pipe’s reader is gone (EPIPE): the failure is kept, nothing thrown', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(fifo, constants.O_WRONLY);
  t.after(() => closeSync(writeEnd));
  const sink = new FdSink(writeEnd);
  sink.write('read by nobody\n');
  assert.equal(sink.failure, undefined);
  closeSync(readEnd);
  const heard = new Promise<Error>((resolve) => sink.onFailure(resolve));
  assert.doesNotThrow(() => sink.write('into nothing\n'));
  assert.equal(codeOf(await heard), 'EPIPE');
  assert.equal(sink.dropped, 1);
});

test('a formatter (pino-pretty’s) is applied to each line', (t) => {
  const { file, fd } = tempFile(t);
  const sink = new FdSink(fd, (line) => `> ${line}`);
  sink.write('a\n');
  sink.write('b\n');
  assert.equal(readFileSync(file, 'utf8'), '> a\n> b\n');
});

test('console text is written as it is, never through the formatter (pino-pretty added a blank line to each)', (t) => {
  const { file, fd } = tempFile(t);
  const sink = new FdSink(fd, (line) => `> ${line}`);
  sink.write('{"msg":"a"}\n');
  sink.writeText('printed\n');
  sink.writeText('{"level":30,"msg":"looks like a line"}\n');
  assert.equal(
    readFileSync(file, 'utf8'),
    '> {"msg":"a"}\nprinted\n{"level":30,"msg":"looks like a line"}\n',
  );
});
