import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../src/lib/primitives/log.js';
import { createLineLogger } from '../../../src/lib/primitives/line-logger.js';
import { serializeLoggedError } from '../../../src/lib/primitives/logged-error.js';
import { DependencyError } from '../../../src/lib/primitives/errors.js';

/**
 * An error made from another usually says what that one said; the line must not say it twice
 * (pino's serializer appended every cause's message: `...: Address already in use: Address
 * already in use`). A cause that adds something is still appended, as pino does.
 */

function messageOf(value: unknown): unknown {
  return (serializeLoggedError(value) as { message?: unknown }).message;
}

/** What zeromq threw for a bind to a port in use, and the DependencyError the registry made. */
function bindInUse(): DependencyError {
  const raw = Object.assign(new Error('Address already in use'), { code: 'EADDRINUSE', errno: 98 });
  return new DependencyError(
    'zeromq',
    `zmq socket results-publisher: bind tcp://127.0.0.1:5556: ${raw.message}`,
    { cause: raw },
  );
}

test("a cause's message the message already holds is not appended again", () => {
  assert.equal(
    messageOf(bindInUse()),
    'zeromq: zmq socket results-publisher: bind tcp://127.0.0.1:5556: Address already in use',
  );
});

test('a cause that adds something is appended, down the chain, as pino does', () => {
  const deepest = new Error('ECONNRESET');
  const middle = new Error('socket closed', { cause: deepest });
  const top = new Error('publish failed: socket closed', { cause: middle });
  assert.equal(messageOf(top), 'publish failed: socket closed: ECONNRESET');
  assert.equal(messageOf(new Error('a', { cause: new Error('b') })), 'a: b');
});

test('what is not an error is left alone; a cause that is not one is not read', () => {
  assert.equal(serializeLoggedError('just text'), 'just text');
  assert.equal(messageOf(new Error('alone', { cause: 'a string cause' })), 'alone');
  assert.equal(messageOf(new Error('alone', { cause: { code: 1 } })), 'alone');
});

test('causes that loop end with ...; a VError-style cause() is read', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  Object.assign(a, { cause: b });
  assert.equal(messageOf(a), 'a: b: ...');
  const verror = Object.assign(new Error('outer: inner said no'), {
    cause: () => new Error('inner said no'),
  });
  assert.equal(messageOf(verror), 'outer: inner said no');
});

test("the stack and fields are still pino's: the cause's stack, the code", () => {
  const out = serializeLoggedError(bindInUse()) as Record<string, unknown>;
  assert.equal(out['type'], 'DependencyError');
  assert.match(String(out['stack']), /caused by: Error: Address already in use/);
  assert.equal(out['dependency'], 'zeromq');
});

test('both loggers write the message once, as err and as the error alone', () => {
  for (const make of [createLogger, createLineLogger]) {
    const lines: string[] = [];
    const log = make({
      app: 'app',
      thread: 't',
      version: 'v',
      level: 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    log.warn({ err: bindInUse() }, 'as err');
    log.error(bindInUse());
    for (const line of lines) {
      const err = (JSON.parse(line) as { err: { message: string } }).err;
      assert.equal(err.message.match(/Address already in use/g)?.length, 1, line);
    }
  }
});
