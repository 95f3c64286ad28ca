import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  forgetSecrets,
  maskSecret,
  redactSecrets,
  rememberSecret,
  redactLogLine,
  scrubSecrets,
} from '../../../src/lib/primitives/secrets.js';
import { captureLogger } from '../../helpers/core.js';

/** Every odd character a password may hold: / @ " % a space, and non-ASCII letters. */
const oddSecret = 'Pa/ss@w"rd% 100 ünï';

afterEach(() => forgetSecrets());

test('a remembered secret is masked in free text, in a JSON line and percent-encoded', () => {
  rememberSecret(oddSecret);
  assert.equal(redactSecrets(`the key is ${oddSecret}.`), 'the key is [Redacted].');
  const line = JSON.stringify({ msg: `failed with ${oddSecret}` });
  assert.ok(!redactSecrets(line).includes('w\\"rd'), redactSecrets(line));
  assert.ok(!redactSecrets(encodeURIComponent(oddSecret)).includes('100'));
});

test('a URL secret is remembered by its password, whatever its characters; the host stays readable', () => {
  const url = `amqp://user:${encodeURIComponent(oddSecret)}@broker.example:5672/vh`;
  rememberSecret(url);
  assert.equal(
    redactSecrets(`cannot connect to ${url} (refused)`),
    'cannot connect to amqp://user:[Redacted]@broker.example:5672/vh (refused)',
  );
  // An error message quoting the decoded password, as a client library may.
  assert.ok(!redactSecrets(`password "${oddSecret}" refused`).includes('ünï'));
});

test('an unencoded / or @ in a password does not let it through (the issue: amqp://user:pa/ss@host/)', () => {
  assert.equal(redactSecrets('amqp://user:pa/ss@host/'), 'amqp://user:[Redacted]@host/');
  assert.equal(redactSecrets('"amqp://user:p@ss@host/"'), '"amqp://user:[Redacted]@host/"');
  assert.equal(maskSecret('amqp://user:pa/ss@host/'), 'amqp://user:[Redacted]@host/');
});

test('an unencoded @ in a password followed by / ? or # does not show the rest of it (user:Secret@Tail/Rest9@host)', () => {
  for (const password of ['Secret@Tail/Rest9', 'Sec@ret#Tail42', 'Sec@ret?Tail42']) {
    const url = `amqp://user:${password}@broker/`;
    assert.equal(maskSecret(url), 'amqp://user:[Redacted]@broker/');
    rememberSecret(url);
    assert.equal(
      redactSecrets(`cannot reach ${url}`),
      'cannot reach amqp://user:[Redacted]@broker/',
    );
    assert.equal(redactSecrets(`password ${password} refused`), 'password [Redacted] refused');
  }
});

test('a secret URL without userinfo keeps its key in its path or query: that part is masked and remembered', () => {
  const webhook = 'https://hooks.example.com/services/T0/B0/WebhookSecret123';
  assert.equal(maskSecret(webhook), 'https://hooks.example.com/[Redacted]');
  assert.equal(
    maskSecret('http://127.0.0.1:1/?token=QueryTokenSecret99'),
    'http://127.0.0.1:1/[Redacted]',
  );
  assert.equal(maskSecret('http://influx:8086?token=abc'), 'http://influx:8086?[Redacted]');
  assert.equal(maskSecret('http://influx:8086/'), 'http://influx:8086/');
  rememberSecret(webhook);
  rememberSecret('http://127.0.0.1:1/?token=QueryTokenSecret99');
  assert.equal(
    redactSecrets(`posting to ${webhook} and http://127.0.0.1:1/?token=QueryTokenSecret99 failed`),
    'posting to https://hooks.example.com/[Redacted] and http://127.0.0.1:1/[Redacted] failed',
  );
});

test('maskSecret shows a URL with its userinfo masked and anything else not at all', () => {
  assert.equal(
    maskSecret('https://KEY123@o1.ingest.example/42'),
    'https://[Redacted]@o1.ingest.example/42',
  );
  assert.equal(maskSecret('http://influx:8086'), 'http://influx:8086');
  assert.equal(maskSecret('tok-en with spaces'), '[Redacted]');
  assert.equal(maskSecret('amqp://user:pa ss@host/'), '[Redacted]');
  assert.equal(maskSecret(''), '');
});

test('short secrets are masked by key and in URLs, not searched for in free text', () => {
  rememberSecret('amqp://guest:guest@127.0.0.1/');
  assert.equal(redactSecrets('guest user'), 'guest user');
  assert.equal(
    redactSecrets('amqp://guest:guest@127.0.0.1/'),
    'amqp://guest:[Redacted]@127.0.0.1/',
  );
});

test('scrubSecrets masks secret-named keys at any depth and known secrets in every string', () => {
  rememberSecret('tok-0123456789');
  const event = {
    message: 'calling with tok-0123456789',
    extra: { config: { headers: { Authorization: 'Bearer xyz', 'X-Api-Key': 'k1' } } },
    list: [{ password: 'hunter22' }],
    counts: { tokens: 3, maxToken: 5 },
  };
  const scrubbed = scrubSecrets(event);
  assert.deepEqual(scrubbed, {
    message: 'calling with [Redacted]',
    extra: { config: { headers: { Authorization: '[Redacted]', 'X-Api-Key': '[Redacted]' } } },
    list: [{ password: '[Redacted]' }],
    counts: { tokens: 3, maxToken: 5 },
  });
  assert.equal(event.message, 'calling with tok-0123456789', 'the original is left as it was');
});

test('a logger redacts a remembered secret wherever it appears in a line', () => {
  rememberSecret(oddSecret);
  const { log, sink } = captureLogger();
  log.info({ detail: { note: `x${oddSecret}y` } }, `message with ${oddSecret}`);
  const text = JSON.stringify(sink.lines[0]);
  assert.ok(!text.includes('ünï'), text);
  assert.equal(sink.lines[0]?.['msg'], 'message with [Redacted]');
});

test("a secret URL whose path holds no key (an OTLP endpoint's /tracing) does not make the path's words secrets", () => {
  // The path was remembered as `tracing`: every line's "component":"tracing" read [Redacted].
  rememberSecret('http://collector.example:4318/tracing');
  assert.equal(
    redactSecrets('{"component":"tracing","msg":"tracing on"}'),
    '{"component":"tracing","msg":"tracing on"}',
  );
  assert.equal(
    redactSecrets('export to http://collector.example:4318/tracing failed'),
    'export to http://collector.example:4318/[Redacted] failed',
  );
  rememberSecret('http://127.0.0.1:1?token=QueryTokenSecret99');
  assert.equal(
    redactSecrets('"http://127.0.0.1:1?token=QueryTokenSecret99"'),
    '"http://127.0.0.1:1?[Redacted]"',
  );
});

test('a key as user name with an empty password (https://KEY:@host/) is the secret: masked and remembered', () => {
  const url = 'https://Key_Before_Colon42:@ingest.example/7';
  assert.equal(maskSecret(url), 'https://[Redacted]@ingest.example/7');
  rememberSecret(url);
  assert.equal(redactSecrets('key Key_Before_Colon42 refused'), 'key [Redacted] refused');
  assert.equal(
    redactSecrets(`posting to ${url}`),
    'posting to https://[Redacted]@ingest.example/7',
  );
});

test("keys named like the clouds' secrets are masked by name (secretAccessKey, privateKey, passphrase, auth), an access key's id is not", () => {
  const scrubbed = scrubSecrets({
    aws: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI' },
    tls: { private_key: '-----BEGIN', passphrase: 'open sesame' },
    http: { auth: 'user:pw' },
    author: 'Ada',
  });
  assert.deepEqual(scrubbed, {
    aws: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: '[Redacted]' },
    tls: { private_key: '[Redacted]', passphrase: '[Redacted]' },
    http: { auth: '[Redacted]' },
    author: 'Ada',
  });
  const line = JSON.stringify({ msg: 'signing', key: { privateKey: 'pk-Zebra-4242' } });
  assert.ok(!redactLogLine(line).includes('Zebra'), redactLogLine(line));
});

test('a secret with " or \\ in it is masked in a JSON text logged as a string (escaped twice)', () => {
  const secret = 'q"uote\\back42';
  rememberSecret(secret);
  const body = JSON.stringify({ password2: secret, note: 'x' });
  const line = JSON.stringify({ msg: 'request body', body });
  assert.ok(line.includes('\\\\\\"uote'), line); // the secret is in there, escaped twice
  assert.equal(redactSecrets(line).includes('uote'), false, redactSecrets(line));
});

test('a URL right after a long run of letters still has its userinfo masked', () => {
  // The scheme search was bounded to fix a quadratic case; it must still find this one.
  const line = `x ${'A'.repeat(40)}https://user:hunter2pass@db/x`;
  assert.ok(!redactSecrets(line).includes('hunter2pass'), redactSecrets(line));
  assert.ok(redactSecrets(line).endsWith('https://user:[Redacted]@db/x'));
});

test("a webhook's secret path is masked as a URL parser writes it back: without its query, and re-encoded", () => {
  // A review helper's drill: the notifier's message printed origin + pathname, and the path
  // alone (the URL had a query) or re-encoded (é as %C3%A9) matched no remembered form.
  rememberSecret('http://127.0.0.1:39154/hooks/T0kenSecret?sig=QwErTyUiOp');
  rememberSecret('http://127.0.0.1:39154/hooks/T0ken-Sécret"{}<>`');
  for (const url of [
    'http://127.0.0.1:39154/hooks/T0kenSecret?sig=QwErTyUiOp',
    'http://127.0.0.1:39154/hooks/T0ken-Sécret"{}<>`',
  ]) {
    const parsed = new URL(url);
    const texts = [`POST ${parsed.origin}${parsed.pathname}`, `POST ${parsed.href}`];
    if (parsed.search !== '') texts.push(`query ${parsed.search}`);
    for (const text of texts) {
      const out = redactSecrets(text);
      assert.ok(!/T0ken|QwErTy/.test(out), `${text} -> ${out}`);
      assert.match(out, /\[Redacted\]/);
    }
  }
});
