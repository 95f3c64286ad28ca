import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../src/lib/primitives/log.js';
import { createLineLogger } from '../../../src/lib/primitives/line-logger.js';
import {
  readTraceFieldsWith,
  setLogLevel,
  type Logger,
} from '../../../src/lib/primitives/logger.js';
import { withCorrelationId } from '../../../src/lib/primitives/correlation.js';
import { adoptSecrets } from '../../../src/lib/primitives/secrets.js';

/**
 * A worker thread's logger (line-logger.ts) must write the lines the main thread's pino logger
 * writes: a log pipeline reads both threads' lines alike, and the secrets pass must hold in
 * both. Each case is written through both, and the lines compared as text (the time aside).
 */

type Case = (log: Logger) => void;

function withCause(): Error {
  const root = new Error('socket closed', { cause: new Error('ECONNRESET') });
  Object.assign(root, { code: 'E_DEPENDENCY', retryable: true, dependency: 'amqp' });
  return root;
}

/** An object with a plain field and one whose getter throws. */
function throwingField(): Record<string, unknown> {
  const obj: Record<string, unknown> = { plain: 'kept', n: 1 };
  Object.defineProperty(obj, 'lazy', {
    enumerable: true,
    get() {
      throw new Error('a getter that throws');
    },
  });
  return obj;
}

/** An error with an enumerable getter that throws: its serializer reads every field. */
function throwingError(): Error {
  const error = new Error('the real failure');
  Object.defineProperty(error, 'details', {
    enumerable: true,
    get() {
      throw new Error('a getter that throws');
    },
  });
  return error;
}

const circular: Record<string, unknown> = { a: 1 };
circular['self'] = circular;

const cases: Record<string, Case> = {
  'a message alone': (log) => log.info('plain'),
  'an object and a message': (log) => log.info({ a: 1, nested: { b: [1, 'two', null] } }, 'with'),
  'printf arguments': (log) => log.info('fmt %s and %d and %j and %o', 'x', 42, { k: 1 }, [2]),
  'an object, then printf arguments': (log) => log.warn({ a: 1 }, 'n=%d s=%s', 7, 'y'),
  'extra arguments with no placeholder': (log) => Reflect.apply(log.info, log, ['extra', 'one', 2]),
  'an error alone (its message becomes msg)': (log) => log.error(withCause()),
  'an error and a message': (log) => log.error(new TypeError('bad type'), 'it failed'),
  'err in the object': (log) => log.warn({ err: withCause(), attempt: 2 }, 'retrying'),
  'err in the object, no message (err.message is msg)': (log) => log.error({ err: new Error('x') }),
  'err whose message already says its cause': (log) =>
    log.warn(
      { err: new Error('bind tcp://x:1: in use', { cause: new Error('in use') }) },
      'wrapped',
    ),
  'err that is not an error': (log) => log.error({ err: 'just text' }, 'odd'),
  'an aggregate error': (log) =>
    log.error(new AggregateError([new Error('one'), new RangeError('two')], 'both failed')),
  'children, a repeated key': (log) =>
    log.child({ component: 'c' }).child({ sub: 2, component: 'd' }).info({ x: 1 }, 'kids'),
  'a binding with an error': (log) => log.child({ err: new Error('bound') }).info('bound line'),
  'bindings named like pino options (level, serializers...)': (log) =>
    log
      .child({ level: 'debug', serializers: 1, formatters: 2, customLevels: 3, kept: 4 })
      .info('odd bindings'),
  'values with toJSON, a Map, a Set, symbols, inherited fields': (log) => {
    const obj = Object.assign(Object.create({ inherited: 1 }) as Record<string | symbol, unknown>, {
      when: new Date(0),
      buf: Buffer.from('ab'),
      url: new URL('http://host/path?q=1'),
      map: new Map([['k', 1]]),
      set: new Set([1]),
      big: { nested: { deeper: { deepest: { bottom: { floor: 1 } } } } },
    });
    obj[Symbol('hidden')] = 'no';
    log.info(obj, 'odd objects');
  },
  'a message with quotes, newlines, unicode and a lone percent': (log) =>
    log.warn('line\nbreak "quoted" \u2028 ✓ 100% sure'),
  'an error-like object under err': (log) =>
    log.error({ err: { message: 'looks like one', stack: 'at nowhere', code: 7 } }),
  'a URL with a password, as a field': (log) =>
    log.warn({ url: new URL('amqp://user:pa55-w0rd@broker:5672/vhost') }, 'url field'),
  'a cycle': (log) => log.info(circular, 'circular'),
  'a field whose getter throws: the message, the plain fields, and why': (log) =>
    log.error(throwingField(), 'cannot be written whole'),
  'an err whose enumerable getter throws': (log) =>
    log.error({ err: throwingError(), kind: 'unexpected', scope: 'loop' }, 'application error'),
  'an object whose keys cannot be listed': (log) =>
    log.warn(
      new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('no keys');
          },
        },
      ),
      'proxy',
    ),
  'an object with a level field': (log) => log.info({ level: 'mine', a: 1 }, 'level field'),
  'secret-named fields, a URL with a password': (log) =>
    log.info(
      {
        password: 'hunter22',
        config: { token: 't0k3n-value', headers: { authorization: 'Bearer abcdef' } },
        deep: { a: { b: { apiKey: 12345678 } } },
        url: 'amqp://user:pa55word@broker:5672/vhost',
      },
      'secrets',
    ),
  'a secret the config marked, in a message and a field': (log) =>
    log.info({ where: 'x=marked-secret-42' }, 'has marked-secret-42 in it'),
  'values JSON cannot hold': (log) =>
    log.info(
      { undef: undefined, fn: () => 1, nan: Number.NaN, inf: Infinity, t: true, nul: null },
      'odd values',
    ),
  'msg inside the object': (log) => log.info({ msg: 'in the object', a: 1 }),
  'nothing at all': (log) => (log.info as () => void)(),
  'null alone': (log) => log.info(null),
  'a correlation id': (log) => withCorrelationId('corr-1', () => log.info({ a: 1 }, 'correlated')),
  'a correlation id the object overrides': (log) =>
    withCorrelationId('corr-2', () => log.info({ correlationId: 'mine' }, 'overridden')),
  'trace ids': (log) => {
    readTraceFieldsWith(() => ({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) }));
    try {
      withCorrelationId('corr-3', () => log.info('traced'));
    } finally {
      readTraceFieldsWith(undefined);
    }
  },
  'levels: below the level, nothing; setLogLevel reaches children made before': (log) => {
    const child = log.child({ component: 'k' });
    child.debug('not written');
    log.info({ enabled: child.isLevelEnabled('debug') }, 'before');
    setLogLevel(log, 'debug');
    child.debug({ enabled: child.isLevelEnabled('debug') }, 'written now');
    child.trace('still not written');
    setLogLevel(log, 'info');
    child.debug('not written again');
  },
  'bindings()': (log) =>
    log.info({ b: log.child({ component: 'c', n: 1 }).bindings() }, 'bindings'),
};

function writeThrough(make: (write: (line: string) => void) => Logger, run: Case): string[] {
  const lines: string[] = [];
  run(make((line) => lines.push(line)));
  // The time aside, and where in this file each side was called from (the errors' stacks).
  return lines.map((line) =>
    line.replace(/"time":"[^"]+"/, '"time":"T"').replace(/line-logger\.test\.js:\d+:\d+/g, 'here'),
  );
}

const options = { app: 'app', thread: 'processor', version: 'v1', level: 'info' as const };

adoptSecrets([['marked-secret-42', '[Redacted]']]);

for (const [name, run] of Object.entries(cases)) {
  test(`a worker's line is pino's line: ${name}`, () => {
    const fromPino = writeThrough(
      (write) => createLogger({ ...options, destination: { write } }),
      run,
    );
    const fromWorker = writeThrough(
      (write) => createLineLogger({ ...options, destination: { write } }),
      run,
    );
    assert.ok(fromPino.length > 0 || name.startsWith('nothing'), 'pino wrote a line');
    assert.deepEqual(fromWorker, fromPino);
  });
}

test('a log call never throws: what cannot be written is said, in both loggers', () => {
  for (const make of [createLogger, createLineLogger]) {
    const lines: string[] = [];
    const log = make({ ...options, destination: { write: (line: string) => lines.push(line) } });
    log.error({ err: throwingError(), scope: 'loop' }, 'application error');
    log.error(throwingField(), 'cannot be written whole');
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(first?.['msg'], 'application error');
    assert.equal(first?.['error'], 'Error: the real failure');
    assert.equal(first?.['scope'], 'loop');
    assert.equal(first?.['logFailure'], 'Error: a getter that throws');
    assert.equal(second?.['plain'], 'kept');
    assert.equal(second?.['logFailure'], 'Error: a getter that throws');
  }
});

test('the worker logger does not load pino', async () => {
  const { execFileSync } = await import('node:child_process');
  const script = `
    const { createLineLogger } = await import(${JSON.stringify(new URL('../../../src/lib/primitives/line-logger.js', import.meta.url).href)});
    createLineLogger({ app: 'a', thread: 't', version: 'v', level: 'info', destination: { write() {} } }).info('x');
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('/node_modules/pino/'));
    console.log(JSON.stringify(loaded));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(out), []);
});
