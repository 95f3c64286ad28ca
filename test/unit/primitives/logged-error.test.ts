import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type Logger } from '../../../src/lib/primitives/log.js';
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

/** The lines each logger (main's pino, a worker's line logger) writes for `write`. */
function linesOfBothLoggers(write: (log: Logger) => void): string[][] {
  return [createLogger, createLineLogger].map((make) => {
    const lines: string[] = [];
    write(
      make({
        app: 'app',
        thread: 't',
        version: 'v',
        level: 'info',
        destination: { write: (line: string) => lines.push(line) },
      }),
    );
    return lines;
  });
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
  for (const lines of linesOfBothLoggers((log) => {
    log.warn({ err: bindInUse() }, 'as err');
    log.error(bindInUse());
  })) {
    for (const line of lines) {
      const err = (JSON.parse(line) as { err: { message: string } }).err;
      assert.equal(err.message.match(/Address already in use/g)?.length, 1, line);
    }
  }
});

test('a thrown function is written as what can be said of it (the line had no err at all)', () => {
  const thrown = (): void => undefined;
  assert.deepEqual(serializeLoggedError(thrown), {
    type: 'NonError',
    message: String(thrown),
  });
  const unreadable = (): void => undefined;
  unreadable.toString = () => {
    throw new Error('no toString');
  };
  assert.deepEqual(serializeLoggedError(unreadable), {
    type: 'NonError',
    message: 'a thrown function that cannot be read',
  });
});

test("a fork's giant error is cut to what a log line carries: type, message, stack, aggregated errors", () => {
  // An AggregateError of 10,000 wrote 7.8 MB lines; a 200,000-character name, 600 KB ones.
  const many = new AggregateError(
    Array.from({ length: 10_000 }, (_, i) => new Error(`part ${i}`)),
    'x'.repeat(20_000),
  );
  many.name = 'N'.repeat(200_000);
  const out = serializeLoggedError(many) as Record<string, unknown>;
  assert.equal(out['type'], 'AggregateError');
  assert.equal(out['name'], `${'N'.repeat(255)}... (199745 characters more)`);
  assert.match(String(out['message']), /^x{8192}\.\.\. \(11808 characters more\)$/);
  assert.ok(String(out['stack']).length < 17 * 1024, String(String(out['stack']).length));
  assert.equal((out['aggregateErrors'] as unknown[]).length, 10);
  assert.equal(out['aggregateErrorsOmitted'], 9_990);
  for (const lines of linesOfBothLoggers((log) => log.error({ err: many }, 'many'))) {
    assert.ok((lines[0]?.length ?? 0) < 64 * 1024, `${lines[0]?.length} characters`);
  }
});

test("the cut reaches inside: aggregated errors' own fields, nested details, long lists; the caller's objects untouched", () => {
  // Cut at the top only, ten aggregated errors of 1 MB each wrote a 20 MB line.
  const big = 'x'.repeat(1_000_000);
  const many = new AggregateError(
    Array.from({ length: 10 }, () => new Error(big)),
    'ten big ones',
  );
  const details = { body: big, rows: Array.from({ length: 500 }, (_, i) => i) };
  const withDetails = Object.assign(new Error('with details'), { details });
  for (const error of [many, withDetails]) {
    assert.ok(JSON.stringify(serializeLoggedError(error)).length < 200_000);
  }
  const out = serializeLoggedError(withDetails) as { details: { body: string; rows: unknown[] } };
  assert.match(out.details.body, /^x{2048}\.\.\. \(997952 characters more\)$/);
  assert.equal(out.details.rows.length, 51);
  assert.equal(out.details.rows.at(-1), '... (450 items more)');
  assert.equal(details.body.length, 1_000_000, "the error's own object is not changed");
  assert.equal(details.rows.length, 500);
  let deep: Record<string, unknown> = { leaf: 'end' };
  for (let i = 0; i < 20; i++) deep = { deeper: deep };
  const nested = serializeLoggedError(Object.assign(new Error('deep'), { deep })) as Record<
    string,
    unknown
  >;
  assert.match(JSON.stringify(nested), /\[cut: nested deeper than 8 levels\]/);
});

test('bytes, class instances and wide objects on an error are cut too; Dates and URLs write themselves', () => {
  // A Buffer of 100,000 bytes wrote 400 KB (a list of numbers); an instance's 1 MB field went
  // whole; an object of 10,000 fields wrote 128 KB.
  class Response {
    body = 'y'.repeat(1_000_000);
  }
  const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
  const error = Object.assign(new Error('with data'), {
    body: Buffer.alloc(100_000, 'x'),
    small: Buffer.from('hi'),
    words: new Uint16Array(2),
    response: new Response(),
    wide,
    at: new Date(0),
    url: new URL('http://example.test/a'),
  });
  const out = serializeLoggedError(error) as Record<string, unknown>;
  // Sizes first: a failed comparison of the uncut values takes node:assert minutes to describe.
  for (const [field, value] of Object.entries(out)) {
    const size = JSON.stringify(value).length;
    assert.ok(size < 4 * 1024, `${field}: ${size} characters`);
  }
  assert.equal(out['body'], `<Buffer ${'78 '.repeat(31)}78 ... 99968 more bytes>`);
  assert.equal(out['small'], '<Buffer 68 69>');
  assert.equal(out['words'], '<Uint16Array 00 00 00 00>');
  assert.match((out['response'] as { body: string }).body, /^y{2048}\.\.\. /);
  assert.equal(Object.keys(out['wide'] as object).length, 51);
  assert.equal((out['wide'] as Record<string, unknown>)['...'], '9950 fields more');
  assert.deepEqual(JSON.parse(JSON.stringify([out['at'], out['url']])), [
    '1970-01-01T00:00:00.000Z',
    'http://example.test/a',
  ]);
  for (const lines of linesOfBothLoggers((log) => log.error({ err: error }, 'data'))) {
    assert.ok((lines[0]?.length ?? 0) < 32 * 1024, `${lines[0]?.length} characters`);
  }
});

test('what a field writes of itself (toJSON) is cut as the rest is; toJSON called once, with its key', () => {
  // A field whose toJSON gave 1 MB (AxiosError's carries its request) wrote 1,049,220 characters.
  const keys: string[] = [];
  const request = {
    toJSON(key: string) {
      keys.push(key);
      return { data: 'z'.repeat(1_000_000), headers: Array.from({ length: 1_000 }, (_, i) => i) };
    },
  };
  const itself = {
    mark: 'self',
    toJSON() {
      return this; // written as plain data, not asked again
    },
  };
  const error = Object.assign(new Error('request failed'), { request, itself });
  const out = serializeLoggedError(error) as Record<string, unknown>;
  const size = JSON.stringify(out['request']).length;
  assert.ok(size < 4 * 1024, `request: ${size} characters`);
  assert.deepEqual(keys, ['request']);
  const written = out['request'] as { data: string; headers: unknown[] };
  assert.match(written.data, /^z{2048}\.\.\. \(997952 characters more\)$/);
  assert.equal(written.headers.length, 51);
  assert.equal((out['itself'] as { mark: string }).mark, 'self');
  for (const lines of linesOfBothLoggers((log) => log.error({ err: error }, 'request'))) {
    assert.ok((lines[0]?.length ?? 0) < 32 * 1024, `${lines[0]?.length} characters`);
  }
});
