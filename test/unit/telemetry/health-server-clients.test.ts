import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { HealthServer, requestTarget } from '../../../src/lib/telemetry/health-server.js';
import { HealthChecks } from '../../../src/lib/health.js';
import { captureLogger } from '../../helpers/core.js';
import { rawHttp } from '../../helpers/raw-http.js';
import { forgetSecrets, rememberSecret } from '../../../src/lib/primitives/secrets.js';

/** The health endpoint against clients that are not a well-behaved probe, on real sockets. */

async function started(
  t: { after: (fn: () => Promise<void>) => void },
  options: {
    requestTimeoutMs?: number;
    maxConnections?: number;
    health?: HealthChecks;
    metrics?: () => Promise<{ contentType: string; body: string }>;
  } = {},
): Promise<number> {
  const { log } = captureLogger();
  const server = new HealthServer({
    port: 0,
    host: '127.0.0.1',
    health: new HealthChecks(),
    log,
    ...options,
  });
  t.after(() => server.close());
  await server.start();
  const port = server.address?.port;
  assert.ok(port !== undefined);
  return port;
}

test('request targets: the origin form split, the absolute form parsed, the rest refused', () => {
  const read = (raw: string) => {
    const t = requestTarget(raw);
    return t && { path: t.pathname, query: t.searchParams.toString() };
  };
  assert.deepEqual(read('/livez?verbose'), { path: '/livez', query: 'verbose=' });
  assert.deepEqual(read('//'), { path: '//', query: '' });
  assert.deepEqual(read('/\\?%zz=1'), { path: '/\\', query: '%25zz=1' });
  assert.deepEqual(read('http://h:1/readyz?x=1'), { path: '/readyz', query: 'x=1' });
  assert.equal(read('*'), undefined);
  assert.equal(read('h:1'), undefined);
  assert.equal(read('http://['), undefined);
});

test('a client that never finishes its request is answered 408 and cut off', async (t) => {
  const port = await started(t, { requestTimeoutMs: 300 });
  // Half a request line's headers, then nothing: Node's defaults held this for 60 s.
  const slow = await rawHttp(port, 'GET /livez HTTP/1.1\r\nHost: x\r\n', 5000);
  assert.equal(slow.status, 408, slow.response);
  // Checked every 300 ms here (every second at most by default).
  assert.ok(slow.closedAfterMs < 2000, `cut off after ${slow.closedAfterMs} ms`);
  // Nothing sent at all is cut off too.
  const silent = await rawHttp(port, '', 5000);
  assert.ok(silent.closedAfterMs < 2000, `silent client cut off after ${silent.closedAfterMs} ms`);
  // A whole request on time is answered.
  const whole = await rawHttp(port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(whole.status, 200);
});

test('past maxConnections the oldest idle connection is closed for a probe; with every one answering, the newcomer', async (t) => {
  // Refusing the newest let 64 silent sockets that reconnect when cut fail every probe (a
  // review helper's drill: the HEALTHCHECK failed 20 times in 20).
  let release: () => void = () => undefined;
  let asked: () => void = () => undefined;
  const scraped = new Promise<void>((resolve) => (asked = resolve));
  const pending = new Promise<{ contentType: string; body: string }>((resolve) => {
    release = () => resolve({ contentType: 'text/plain', body: '' });
  });
  const metrics = () => {
    asked();
    return pending;
  };
  const port = await started(t, { maxConnections: 3 });
  const busyPort = await started(t, { maxConnections: 1, metrics });
  const held: Socket[] = [];
  t.after(() => {
    release();
    for (const s of held) s.destroy();
  });
  const hold = async (to: number, request: string): Promise<Socket> => {
    const socket = connect(to, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(request);
    held.push(socket);
    return socket;
  };
  // Three idle ones (two silent, one with an unfinished request): a probe takes the oldest's
  // place and is answered.
  const oldest = await hold(port, '');
  await hold(port, '');
  await hold(port, 'GET /livez HTTP/1.1\r\nHost: x\r\n');
  const closed = once(oldest, 'close');
  const probe = await rawHttp(port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(probe.status, 200, 'the probe is answered');
  await closed;
  // One whose request is under way (a scrape not yet answered): the newcomer is closed.
  await hold(busyPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  await scraped;
  const refused = await rawHttp(busyPort, 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
  assert.equal(refused.status, undefined, 'closed without an answer');
});

test('a client that pipelines requests is cut off at the second, and scrapes meanwhile share the exposition under way', async (t) => {
  let expositions = 0;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const metrics = async (): Promise<{ contentType: string; body: string }> => {
    expositions += 1;
    await gate;
    return { contentType: 'text/plain', body: 'up 1\n' };
  };
  const port = await started(t, { metrics });
  // 300 GET /metrics in one write, none read: each one started an exposition (and asked every
  // worker), and 64 such clients stalled main for 24 s.
  const flood = rawHttp(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(300), 5000);
  const scrapes = [1, 2].map(() =>
    rawHttp(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000),
  );
  const cut = await flood;
  assert.equal(cut.status, undefined, 'cut off before any answer');
  open();
  for (const scrape of await Promise.all(scrapes)) assert.equal(scrape.status, 200);
  // The flood's first request and the scrapes that came while it was made share one; a scrape
  // that came after the gate opened may have made its own.
  assert.ok(expositions <= 2, `${expositions} expositions`);
});

test('HEAD /metrics is answered without an exposition: it would start the windows read since the last scrape', async (t) => {
  let expositions = 0;
  const metrics = (): Promise<{ contentType: string; body: string }> => {
    expositions += 1;
    return Promise.resolve({ contentType: 'text/plain', body: 'up 1\n' });
  };
  const port = await started(t, { metrics });
  const head = await rawHttp(
    port,
    'HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    5000,
  );
  assert.equal(head.status, 200);
  assert.equal(expositions, 0);
  const get = await rawHttp(
    port,
    'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    5000,
  );
  assert.equal(get.status, 200);
  assert.equal(expositions, 1);
});

test('a check whose detail JSON cannot write is answered 500; the server runs on', async (t) => {
  const health = new HealthChecks();
  health.addReadiness('odd', () => ({ ok: false, detail: { n: 5n } }));
  const port = await started(t, { health });
  for (const target of ['/readyz', '/readyz?verbose']) {
    const odd = await rawHttp(
      port,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(odd.status, 500, odd.response);
  }
  const live = await rawHttp(port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(live.status, 200);
});

test("a check's detail or thrown message that quotes a secret is masked, in JSON and in ?verbose text", async (t) => {
  rememberSecret('amqp://svc:Pa"ss\\word-42@db.internal:5672/');
  t.after(() => forgetSecrets());
  const health = new HealthChecks();
  health.addReadiness('store', () => ({
    ok: false,
    detail: { url: 'amqp://svc:Pa"ss\\word-42@db.internal:5672/', note: 'uses Pa"ss\\word-42' },
  }));
  // A value under a key named like a secret, short or not remembered: masked by its key.
  health.addReadiness('keyed', () => ({ ok: true, detail: { token: 'tk-99z', password: 'pw' } }));
  health.addReadiness('thrower', () => {
    throw new Error('cannot log in with Pa"ss\\word-42');
  });
  const port = await started(t, { health });
  for (const target of ['/readyz', '/readyz?verbose']) {
    const answer = await rawHttp(
      port,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(answer.status, 503, answer.response);
    assert.doesNotMatch(answer.response, /word-42|tk-99z|"pw"|: pw\b/, answer.response);
    assert.match(answer.response, /\[Redacted\]/);
  }
  const json = await rawHttp(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const body = JSON.parse(json.response.slice(json.response.indexOf('\r\n\r\n') + 4)) as {
    checks: Record<string, { detail: unknown }>;
  };
  assert.deepEqual(body.checks['thrower']?.detail, 'cannot log in with [Redacted]', 'still JSON');
});

test('a check that throws what nothing can read, or answers a promise, is not ok and says why; the server runs on', async (t) => {
  // A null-prototype object or a message getter that throws ended the service with 70 at the
  // first probe; a promise read as not ok with no reason, and no `ok` in the JSON.
  const health = new HealthChecks();
  health.addReadiness('bare', () => {
    throw Object.create(null);
  });
  health.addReadiness('getter', () => {
    const error = new Error('x');
    Object.defineProperty(error, 'message', {
      get() {
        throw new Error('no message');
      },
    });
    throw error;
  });
  health.addReadiness('async', (() => Promise.resolve({ ok: true })) as never);
  health.addReadiness('fine', () => ({ ok: true }));
  const port = await started(t, { health });
  const answer = await rawHttp(
    port,
    'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  assert.equal(answer.status, 503, answer.response);
  const body = JSON.parse(answer.response.slice(answer.response.indexOf('\r\n\r\n') + 4)) as {
    ok: boolean;
    checks: Record<string, { ok: boolean; detail?: unknown }>;
  };
  assert.equal(body.ok, false);
  assert.equal(body.checks['bare']?.ok, false);
  assert.equal(typeof body.checks['bare']?.detail, 'string');
  assert.equal(body.checks['getter']?.ok, false);
  assert.deepEqual(body.checks['async'], {
    ok: false,
    detail: 'the check returned a promise: checks are synchronous',
  });
  assert.deepEqual(body.checks['fine'], { ok: true });
  const verbose = await rawHttp(
    port,
    'GET /readyz?verbose HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  assert.equal(verbose.status, 503, verbose.response);
});

test('another method on a probe or /metrics is answered 405 with what it allows; an unknown path stays 404', async (t) => {
  const metrics = (): Promise<{ contentType: string; body: string }> =>
    Promise.resolve({ contentType: 'text/plain', body: 'up 1\n' });
  const port = await started(t, { metrics });
  for (const [method, target] of [
    ['POST', '/livez'],
    ['PUT', '/readyz?verbose'],
    ['DELETE', '/healthz'],
    ['POST', '/metrics'],
  ] as const) {
    const answer = await rawHttp(
      port,
      `${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(answer.status, 405, `${method} ${target}: ${answer.response}`);
    assert.match(answer.response, /^allow: GET, HEAD\r$/im);
  }
  const unknown = await rawHttp(
    port,
    'POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  );
  assert.equal(unknown.status, 404);
  const get = await rawHttp(port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(get.status, 200);
});
