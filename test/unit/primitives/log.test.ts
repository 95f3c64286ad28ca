import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setLogLevel } from '../../../src/lib/primitives/logger.js';
import { redactSecrets } from '../../../src/lib/primitives/secrets.js';
import { withCorrelationId } from '../../../src/lib/primitives/correlation.js';
import { captureLogger } from '../../helpers/core.js';

test('every line carries app, thread, pid and version', () => {
  const { log, sink } = captureLogger();
  log.info('hello');
  const [line] = sink.lines;
  assert.equal(line?.['app'], 'test');
  assert.equal(line?.['thread'], 'main');
  assert.equal(line?.['pid'], process.pid);
  assert.equal(line?.['version'], 'test');
});

test('the active correlation id is on every line written under it, and only there', async () => {
  const { log, sink } = captureLogger();
  await withCorrelationId('c-1', async () => {
    await Promise.resolve();
    log.child({ component: 'x' }).info('inside');
  });
  log.info('outside');
  assert.equal(sink.lines[0]?.['correlationId'], 'c-1');
  assert.equal(sink.lines[1]?.['correlationId'], undefined);
});

test('passwords in URLs and secret fields are redacted', () => {
  const { log, sink } = captureLogger();
  log.info(
    { url: 'amqp://guest:s3cret@127.0.0.1:5672/', password: 'hunter2', nested: { token: 't0k' } },
    'connecting to amqps://u:p4ss@host/vh',
  );
  const text = JSON.stringify(sink.lines[0]);
  for (const secret of ['s3cret', 'hunter2', 't0k', 'p4ss'])
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  assert.match(text, /amqp:\/\/guest:\[Redacted\]@127\.0\.0\.1/);
  // A username alone is a credential too (a token, a Sentry key).
  assert.equal(redactSecrets('http://key@127.0.0.1:9/1'), 'http://[Redacted]@127.0.0.1:9/1');
  assert.equal(redactSecrets('https://host/?mail=a@b.example'), 'https://host/?mail=a@b.example');
});

test('setLogLevel() reaches children made before the change', () => {
  const { log, sink } = captureLogger('info');
  const child = log.child({ component: 'c' });
  const grandchild = child.child({ sub: 1 });
  grandchild.debug('hidden');
  setLogLevel(log, 'debug');
  grandchild.debug('shown');
  child.debug('shown too');
  assert.deepEqual(sink.messages(), ['shown', 'shown too']);
});

test('secret-named fields nested in a logged error are redacted (err.config.headers.authorization)', () => {
  const { log, sink } = captureLogger();
  const error = Object.assign(new Error('request failed with status 401'), {
    config: {
      url: 'https://api.example/v1',
      headers: { authorization: 'Bearer abc.DEF-123', accept: 'application/json' },
      auth: { username: 'svc', password: 'p@ss w/ord' },
    },
    response: { headers: { 'set-cookie': ['sid=xyz987; HttpOnly'] } },
  });
  log.error({ err: error, request: { deep: { deeper: { apiKey: 'k-777-abc' } } } }, 'call failed');
  const text = JSON.stringify(sink.lines[0]);
  for (const secret of ['abc.DEF-123', 'p@ss w/ord', 'sid=xyz987', 'k-777-abc'])
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  const err = sink.lines[0]?.['err'] as { config: { headers: Record<string, unknown> } };
  assert.equal(err.config.headers['authorization'], '[Redacted]');
  assert.equal(err.config.headers['accept'], 'application/json');
});

test('a URL logged as a field: no throw, its password redacted', () => {
  // pino's `redact` threw here (a URL's password getter reads a private field; its copy has
  // none): a log call that throws can take down the code that logs an error.
  const { log, sink } = captureLogger();
  log.warn({ url: new URL('amqp://user:pa55-w0rd@broker:5672/vhost') }, 'connecting');
  assert.equal(sink.lines.length, 1);
  assert.equal(sink.lines[0]?.['url'], 'amqp://user:[Redacted]@broker:5672/vhost');
});
