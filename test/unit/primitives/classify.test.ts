import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { z } from 'zod';
import {
  ConfigError,
  DependencyError,
  ErrorCodes,
  HttpError,
  PermanentError,
  TransientError,
  WorkerFailureError,
} from '../../../src/lib/primitives/errors.js';
import { classify, type ErrorKind } from '../../../src/lib/primitives/classify.js';
import {
  deserializeError,
  serializeError,
} from '../../../src/lib/primitives/error-serialization.js';
import { SocketClosedError, SocketRegistry } from '../../../src/lib/zmq/socket-registry.js';
import {
  AmqpChannelClosedError,
  AmqpProtocolError,
  fromAmqplib,
} from '../../../src/lib/amqp/amqp-errors.js';
import { validateInput } from '../../../src/lib/primitives/config.js';
import { captureLogger } from '../../helpers/core.js';
import { FlakyServer } from '../../helpers/flaky-server.js';
import { connectedClient } from '../../helpers/amqp-client.js';

/**
 * The classification table, with real errors wherever the real thing can make them, each
 * library's made ours at its boundary: amqplib against the real RabbitMQ through
 * fromAmqplib() and the AmqpClient, zeromq through the SocketRegistry, zod through
 * validateInput(); fetch against a loopback server (Node's own errors, read as they are).
 * Only errors that need a broker fault (a forced close, a missed heartbeat) are built the way
 * amqplib 2.3 builds them.
 */

const brokerUrl = 'amqp://guest:guest@127.0.0.1:5672';

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

/** A port on 127.0.0.1 that nothing listens on (bound, read, closed). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function expectKind(error: unknown, kind: ErrorKind): void {
  assert.equal(classify(error), kind, `${String(error)} should be ${kind}`);
  const rebuilt = deserializeError(serializeError(error));
  assert.equal(classify(rebuilt), kind, `${String(error)} across a thread boundary`);
}

describe('classify()', () => {
  const server = new FlakyServer();
  const { log } = captureLogger('info');
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  before(() => server.start('classify.test'));
  after(async () => {
    zmq.closeAll();
    await server.stop();
  });

  describe('our own errors', () => {
    test('DependencyError is a dependency failure', () =>
      expectKind(new DependencyError('broker', 'down'), 'dependency'));
    test('TransientError is transient, PermanentError permanent', () => {
      expectKind(new TransientError('busy'), 'transient');
      expectKind(new PermanentError('bad input'), 'permanent');
    });
    test('worker failures and config errors are unexpected (reported)', () => {
      expectKind(new WorkerFailureError(ErrorCodes.WORKER_DIED, 'w', 'died'), 'unexpected');
      expectKind(new ConfigError('bad'), 'unexpected');
    });
    test('a plain Error is unexpected; one wrapping a network error takes its cause', () => {
      expectKind(new Error('bug'), 'unexpected');
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      expectKind(new Error('call failed', { cause: reset }), 'transient');
    });
  });

  describe('HTTP, with real fetch against a loopback server', () => {
    const statuses: Array<[number, ErrorKind]> = [
      [500, 'transient'],
      [502, 'transient'],
      [503, 'transient'],
      [429, 'transient'],
      [408, 'transient'],
      [400, 'permanent'],
      [404, 'permanent'],
      [422, 'permanent'],
      [401, 'dependency'],
      [403, 'dependency'],
    ];
    for (const [status, kind] of statuses) {
      test(`status ${status} is ${kind}`, async () => {
        server.plan([status]);
        const response = await fetch(server.url);
        await response.arrayBuffer();
        assert.equal(response.status, status);
        expectKind(new HttpError(response.status, 'GET /hook'), kind);
      });
    }
    test('a refused connection (fetch failed, cause ECONNREFUSED) is transient', async () => {
      const port = await closedPort();
      const error = await caught(() => fetch(`http://127.0.0.1:${port}/`));
      assert.equal((error as Error).message, 'fetch failed');
      assert.equal(classify(error), 'transient');
    });
    test('an AbortSignal.timeout() on a hanging server is transient', async () => {
      server.plan(['hang']);
      const error = await caught(() => fetch(server.url, { signal: AbortSignal.timeout(100) }));
      assert.equal((error as Error).name, 'TimeoutError');
      expectKind(error, 'transient');
    });
    test('an aborted fetch (AbortError) is transient', async () => {
      server.plan(['hang']);
      const controller = new AbortController();
      const pending = caught(() => fetch(server.url, { signal: controller.signal }));
      await server.waitForRequests(server.requests.length + 1);
      controller.abort();
      const error = await pending;
      assert.equal((error as Error).name, 'AbortError');
      expectKind(error, 'transient');
    });
  });

  describe('zod, made ours by validateInput()', () => {
    test('input a schema rejects is a PermanentError with the ZodError as its cause', () => {
      const schema = z.object({ id: z.string() });
      let error: unknown;
      try {
        validateInput(schema, { id: 1 }, 'event');
      } catch (thrown) {
        error = thrown;
      }
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /^invalid event: id: /);
      assert.equal((error.cause as Error).name, 'ZodError');
      expectKind(error, 'permanent');
      assert.deepEqual(validateInput(schema, { id: 'a' }, 'event'), { id: 'a' });
    });
    test("zod's own error is not read by classify(): it is unexpected", async () => {
      const error = await caught(() => z.object({ id: z.string() }).parse({ id: 1 }));
      assert.equal((error as Error).name, 'ZodError');
      assert.equal(classify(error), 'unexpected');
    });
  });

  describe('zeromq, made ours by the SocketRegistry', () => {
    test('receive on a closed socket (EBADF) is a SocketClosedError: socket-closed', async () => {
      const socket = await zmq.open('pull', `closed-${randomUUID()}`);
      socket.close();
      const error = await caught(() => socket.receive());
      assert.ok(error instanceof SocketClosedError);
      assert.equal((error.cause as { code?: string }).code, 'EBADF');
      expectKind(error, 'socket-closed');
      assert.equal(classify(error.cause), 'unexpected', "zeromq's own error is not read");
    });
    test('a socket closed under a pending receive (EAGAIN) is a SocketClosedError', async () => {
      const socket = await zmq.open('pull', `pending-${randomUUID()}`);
      const pending = caught(() => socket.receive());
      socket.close();
      const error = await pending;
      assert.ok(error instanceof SocketClosedError);
      assert.equal((error.cause as { code?: string }).code, 'EAGAIN');
      expectKind(error, 'socket-closed');
    });
    test('binding an endpoint in use (EADDRINUSE) is a DependencyError', async () => {
      const first = await zmq.open('pub', `first-${randomUUID()}`);
      const endpoint = await first.bind('tcp://127.0.0.1:*');
      const second = await zmq.open('pub', `second-${randomUUID()}`);
      const error = await caught(() => second.bind(endpoint));
      assert.ok(error instanceof DependencyError);
      assert.equal((error.cause as { code?: string }).code, 'EADDRINUSE');
      expectKind(error, 'dependency');
    });
    test('binding a host that is no interface here (ENODEV) or an ipc path without its directory (ENOENT) is a DependencyError', async () => {
      for (const [endpoint, code] of [
        ['tcp://nosuchhost.invalid:5556', 'ENODEV'],
        [`ipc:///nonexistent-${randomUUID()}/x.sock`, 'ENOENT'],
      ] as const) {
        const socket = await zmq.open('pub', `bad-bind-${randomUUID()}`);
        const error = await caught(() => socket.bind(endpoint));
        assert.ok(error instanceof DependencyError, `${endpoint}: ${String(error)}`);
        assert.equal((error.cause as { code?: string }).code, code);
        expectKind(error, 'dependency');
      }
    });
  });

  describe('amqplib, against the real RabbitMQ, made ours by fromAmqplib()', () => {
    test('connection refused (a closed port): ECONNREFUSED, a Node code, is transient', async () => {
      const port = await closedPort();
      const error = await caught(() => amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
      assert.equal((error as { code?: string }).code, 'ECONNREFUSED');
      expectKind(error, 'transient');
    });
    test('refused credentials (ACCESS-REFUSED during the handshake) are a DependencyError', async () => {
      const raw = await caught(() => amqp.connect('amqp://nobody:wrong@127.0.0.1:5672'));
      assert.match((raw as Error).message, /ACCESS-REFUSED/);
      const error = fromAmqplib('connect', raw);
      assert.ok(error instanceof DependencyError);
      expectKind(error, 'dependency');
    });

    describe('on a channel', () => {
      let connection: amqp.ChannelModel | undefined;
      before(async () => {
        try {
          connection = await amqp.connect(brokerUrl);
        } catch (error) {
          console.error(`classify.test: cannot reach RabbitMQ at ${brokerUrl}:`, error);
          throw error;
        }
        connection.on('error', () => undefined);
      });
      after(() => connection?.close());

      async function channelError(fn: (ch: amqp.Channel) => Promise<unknown>): Promise<unknown> {
        assert.ok(connection);
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        return caught(() => fn(channel));
      }

      test('a missing queue (404 NOT-FOUND) is a dependency failure', async () => {
        const raw = await channelError((ch) => ch.checkQueue(`missing-${randomUUID()}`));
        assert.equal((raw as { code?: number }).code, 404);
        const error = fromAmqplib('check queue', raw);
        assert.ok(error instanceof DependencyError);
        expectKind(error, 'dependency');
        assert.equal(classify(raw), 'unexpected', "amqplib's own error is not read");
      });
      test('a queue declared with other arguments (406 inequivalent arg) is a dependency failure', async () => {
        const queue = `test-${randomUUID()}`;
        const raw = await channelError(async (ch) => {
          await ch.assertQueue(queue, { autoDelete: true, arguments: { 'x-max-length': 5 } });
          await ch.assertQueue(queue, { autoDelete: true, arguments: { 'x-max-length': 6 } });
        });
        // auto-delete acts only after a consumer has come and gone: this queue never had one.
        assert.ok(connection);
        const cleanup = await connection.createChannel();
        await cleanup.deleteQueue(queue);
        await cleanup.close();
        assert.equal((raw as { code?: number }).code, 406);
        expectKind(fromAmqplib('declare queue', raw), 'dependency');
      });
      test('an unknown delivery tag (406 without inequivalent arg) is an AmqpProtocolError: our bug', async () => {
        assert.ok(connection);
        const channel = await connection.createChannel();
        const closed = new Promise<unknown>((resolve) => channel.once('error', resolve));
        channel.ack({ fields: { deliveryTag: 999 } } as amqp.Message);
        const raw = await closed;
        assert.equal((raw as { code?: number }).code, 406);
        const error = fromAmqplib('ack', raw);
        assert.ok(error instanceof AmqpProtocolError);
        expectKind(error, 'unexpected');
      });
      test('using a closed channel (IllegalOperationError) is an AmqpChannelClosedError: a dependency failure', async () => {
        const raw = await channelError(async (ch) => {
          await ch.close();
          ch.sendToQueue('anything', Buffer.from('x'));
        });
        assert.equal((raw as Error).name, 'IllegalOperationError');
        const error = fromAmqplib('publish', raw);
        assert.ok(error instanceof AmqpChannelClosedError);
        expectKind(error, 'dependency');
      });
    });

    test('a publish on a channel our AmqpClient closed is an AmqpChannelClosedError', async () => {
      const client = await connectedClient(brokerUrl, 'classify.test', { log });
      try {
        const channel = await client.openChannel('publish', { confirm: true });
        await channel.close();
        const error = await caught(() => channel.publish('', 'nowhere', Buffer.from('x')));
        assert.ok(error instanceof AmqpChannelClosedError);
        expectKind(error, 'dependency');
      } finally {
        await client.close();
      }
    });

    test('a forced close (320) and a missed heartbeat, as amqplib 2.3 builds them, are DependencyErrors', () => {
      const forced = Object.assign(
        new Error(
          'Connection closed: 320 (CONNECTION-FORCED) with message "closed via management"',
        ),
        { code: 320 },
      );
      for (const raw of [forced, new Error('Heartbeat timeout')]) {
        const error = fromAmqplib('connection error', raw);
        assert.ok(error instanceof DependencyError, raw.message);
        expectKind(error, 'dependency');
      }
    });
  });
});
