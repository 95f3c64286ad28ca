import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { HealthServer } from '../../../src/lib/telemetry/health-server.js';
import { HealthChecks } from '../../../src/lib/health.js';
import { captureLogger } from '../../helpers/core.js';

test('close() before start() means never start: start() then does not listen', async (t) => {
  // A free port, found by binding it and letting it go.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  const { log } = captureLogger();
  const server = new HealthServer({ port, host: '127.0.0.1', health: new HealthChecks(), log });
  t.after(() => server.close());
  await server.close();
  await server.start();
  assert.equal(server.address, undefined, 'a shutdown that came first is not undone');
});

test('close() while start() binds: the server is closed once bound, and start() resolves', async (t) => {
  const { log, sink } = captureLogger();
  const server = new HealthServer({ port: 0, host: '127.0.0.1', health: new HealthChecks(), log });
  t.after(() => server.close());
  const started = server.start(); // listen() is under way: the bind completes on a later tick
  const closed = server.close();
  await Promise.all([started, closed]);
  assert.equal(server.address, undefined, 'not left listening after a close that came first');
  assert.equal(
    sink.lines.some((l) => l['msg'] === 'health endpoint on'),
    false,
    'no "on" line for an endpoint closed before it was bound',
  );
});

test('close() after a failed start() resolves at once', async (t) => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const { log } = captureLogger();
  const server = new HealthServer({ port, host: '127.0.0.1', health: new HealthChecks(), log });
  await assert.rejects(server.start(), /cannot listen on 127\.0\.0\.1/);
  await server.close();
});
