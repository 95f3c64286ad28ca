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
