import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  SocketClosedError,
  SocketRegistry,
  type ManagedSocket,
} from '../../../src/lib/zmq/socket-registry.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import { captureLogger } from '../../helpers/core.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DependencyError } from '../../../src/lib/primitives/errors.js';
import { ExitCode, exitCodeFor } from '../../../src/lib/primitives/exit-codes.js';

test('each socket is registered with the place that opened it and its endpoints', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'results');
  const bound = await pub.bind('tcp://127.0.0.1:*');
  assert.match(bound, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const [entry] = zmq.describeOpen();
  assert.equal(entry?.name, 'results');
  assert.equal(entry?.type, 'pub');
  assert.deepEqual(entry?.endpoints, [bound]);
  assert.match(entry?.createdAt ?? '', /socket-registry\.test\.js:\d+:\d+/);
});

/**
 * A registered PUB socket and a SUB socket subscribed to `topic` on it. A PUB socket drops
 * messages until the subscription arrives (slow joiner): it publishes `[topic, m<n>]` until the
 * first one is received, which is the event this waits for; resolves with that message too.
 */
async function joinedPair(t: TestContext): Promise<{
  pub: ManagedSocket;
  sub: ManagedSocket;
  first: Buffer[];
}> {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'pub');
  const endpoint = await pub.bind('tcp://127.0.0.1:*');
  const sub = await zmq.open('sub', 'sub');
  sub.connect(endpoint);
  sub.subscribe('topic');
  const received = sub.receive();
  let sent = 0;
  const publishing = setInterval(() => void pub.send(['topic', `m${sent++}`]), 10);
  const first = await received;
  clearInterval(publishing);
  return { pub, sub, first };
}

test('messages flow from a registered PUB socket to a registered SUB socket', async (t) => {
  const [topic, body] = (await joinedPair(t)).first;
  assert.equal(topic?.toString(), 'topic');
  assert.match(body?.toString() ?? '', /^m\d+$/);
});

test('closeAll() closes every socket; a pending receive rejects as socket-closed', async () => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  const sub = await zmq.open('sub', 'waiting');
  sub.connect('tcp://127.0.0.1:1');
  sub.subscribe();
  const pending = sub.receive();
  zmq.closeAll();
  const error = await pending.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SocketClosedError);
  assert.equal((error.cause as { code?: string }).code, 'EAGAIN', 'zeromq said EAGAIN');
  assert.equal(classify(error), 'socket-closed');
  assert.equal(sub.isClosed, true);
  assert.deepEqual(zmq.describeOpen(), []);
  const afterClose = await sub.send('x').then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(afterClose instanceof SocketClosedError);
  assert.equal((afterClose.cause as { code?: string }).code, 'EBADF', 'zeromq said EBADF');
  assert.equal(classify(afterClose), 'socket-closed');
  zmq.closeAll();
});

test('only SUB sockets subscribe', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const push = await zmq.open('push', 'push');
  assert.throws(() => push.subscribe('x'), /only sub sockets subscribe/);
});

test('a loop of awaited sends on a PUB socket still lets the event loop turn', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'tight-loop');
  await pub.bind('tcp://127.0.0.1:*');
  // A PUB send resolves at once: without a turn now and then, this loop would run to its
  // end before the immediate (and any timer or socket read) got its turn.
  let sent = 0;
  let sentWhenTurned: number | undefined;
  setImmediate(() => (sentWhenTurned = sent));
  for (; sent < 2000; sent++) await pub.send(['topic', String(sent)]);
  assert.ok(
    sentWhenTurned !== undefined && sentWhenTurned < 2000,
    `the event loop turned after ${String(sentWhenTurned)} of 2000 sends`,
  );
});

test('a burst of PUB sends reaches a subscriber whole and in order', async (t) => {
  const { pub, sub } = await joinedPair(t);
  const count = 500; // under the default high-water mark of 1000: nothing may be dropped
  for (let i = 0; i < count; i++) await pub.send(['topic', `burst ${i}`]);
  const seen: number[] = [];
  while (seen.length < count) {
    const [, body] = await sub.receive();
    const text = body?.toString() ?? '';
    if (text.startsWith('burst ')) seen.push(Number(text.slice(6)));
  }
  assert.deepEqual(
    seen,
    Array.from({ length: count }, (_, i) => i),
  );
});

test('an ipc:// endpoint another socket listens on is refused as in use; a file left by a killed process is taken', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zmq-ipc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const endpoint = `ipc://${join(dir, 'pub.sock')}`;
  const { log } = captureLogger();
  const first = new SocketRegistry({ log, lingerMs: 0 });
  const second = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => {
    first.closeAll();
    second.closeAll();
  });
  await (await first.open('pub', 'first')).bind(endpoint);
  // Before: libzmq replaced the file, and the first socket's subscribers got nothing more.
  const taker = await second.open('pub', 'second');
  await assert.rejects(taker.bind(endpoint), (error: Error) => {
    assert.ok(error instanceof DependencyError, String(error));
    assert.equal(classify(error), 'dependency');
    assert.match(
      error.message,
      /zmq socket second: bind ipc:\/\/.*pub\.sock: Address already in use/,
    );
    return true;
  });
  // A process killed with its socket bound leaves the file behind, and nobody listens on it.
  // (A socket closed in this process stops listening a moment later, in libzmq's I/O thread,
  // with no event to wait for; a killed process's listener is gone when its exit is seen.)
  const stale = join(dir, 'stale.sock');
  const zeromq = pathToFileURL(createRequire(import.meta.url).resolve('zeromq')).href;
  const owner = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { Publisher } = await import(${JSON.stringify(zeromq)});
       await new Publisher().bind(${JSON.stringify(`ipc://${stale}`)});
       console.log('bound');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => owner.kill('SIGKILL'));
  await once(owner.stdout, 'data');
  owner.kill('SIGKILL');
  await once(owner, 'exit');
  assert.ok(existsSync(stale), 'the killed process left its socket file');
  assert.equal(await taker.bind(`ipc://${stale}`), `ipc://${stale}`);
});

test('an endpoint ZeroMQ cannot bind by its form is a ConfigError naming the socket and the endpoint', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'odd');
  // EINVAL and ENAMETOOLONG: before, returned as they came (70, reported as a bug, the message
  // a bare "Invalid argument").
  for (const endpoint of ['tcp://%:5556', `ipc:///tmp/${'a'.repeat(103)}`]) {
    await assert.rejects(pub.bind(endpoint), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(exitCodeFor(error), ExitCode.CONFIG_ERROR);
      assert.ok(error.message.startsWith(`zmq socket odd: bind ${endpoint}: `), error.message);
      return true;
    });
  }
});

test('an IPv6 endpoint (tcp://[::1]:PORT), which the config takes, binds and connects', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  // Before: "No such device" (libzmq has IPv6 off by default), exit 69 at every start.
  const pub = await zmq.open('pub', 'v6');
  const endpoint = await pub.bind('tcp://[::1]:*');
  assert.match(endpoint, /^tcp:\/\/\[::1\]:\d+$/);
  const sub = await zmq.open('sub', 'v6-sub');
  sub.connect(endpoint);
  sub.subscribe('');
  const received = sub.receive();
  // A PUB drops messages until the subscription arrives: send until the first is received.
  const publishing = setInterval(() => void pub.send(['over', 'v6']), 10);
  t.after(() => clearInterval(publishing));
  const [topic] = await received;
  assert.equal(topic?.toString(), 'over');
});

test('connect and subscribe on a closed socket throw SocketClosedError, the noise of closing things', async () => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  const sub = await zmq.open('sub', 'late');
  zmq.closeAll();
  for (const call of [() => sub.connect('tcp://127.0.0.1:5999'), () => sub.subscribe('')]) {
    assert.throws(call, (error: Error) => {
      assert.ok(error instanceof SocketClosedError, `${error.name}: ${error.message}`);
      return true;
    });
  }
});

test('an ipc:// path that is a regular file or a directory is refused as a ConfigError; the file is kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zmq-ipc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'typo');
  // Before: libzmq removed the file and bound its socket there, ready, exit 0 on TERM.
  const file = join(dir, 'settings.json');
  writeFileSync(file, '{"kept": true}');
  mkdirSync(join(dir, 'sub'));
  for (const [path, what] of [
    [file, 'a regular file'],
    [join(dir, 'sub'), 'a directory'],
  ] as const) {
    await assert.rejects(pub.bind(`ipc://${path}`), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(exitCodeFor(error), ExitCode.CONFIG_ERROR);
      assert.equal(
        error.message,
        `zmq socket typo: bind ipc://${path}: the path is ${what}, not a socket file; ZeroMQ would remove it`,
      );
      return true;
    });
  }
  assert.equal(readFileSync(file, 'utf8'), '{"kept": true}');
});

test('a PUB socket cuts off a peer whose subscription is longer than any topic (libzmq keeps every one)', async (t) => {
  const { log } = captureLogger();
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  t.after(() => zmq.closeAll());
  const pub = await zmq.open('pub', 'results');
  const endpoint = await pub.bind('tcp://127.0.0.1:*');
  const { XSubscriber } = await import('zeromq');
  const peer = new XSubscriber({ linger: 0 });
  t.after(() => peer.close());
  const connected = new Promise((resolve) => peer.events.on('connect', resolve));
  const disconnected = new Promise((resolve) => peer.events.on('disconnect', resolve));
  peer.connect(endpoint);
  await connected;
  // 1 KB subscriptions: 100,000 of them took a publisher from 52 to 894 MB of RSS.
  const subscription = Buffer.alloc(1025, 'x');
  subscription[0] = 1;
  await peer.send(subscription);
  await disconnected;
});
