import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
// Tests observe the broker with amqplib directly, independently of the code under test.
import * as amqp from 'amqplib';
import { fileURLToPath } from 'node:url';
import { ServiceProcess } from './service-process.js';
import { createLogger } from '../../src/lib/primitives/log.js';
import { SocketRegistry } from '../../src/lib/zmq/socket-registry.js';

/**
 * The real RabbitMQ on 127.0.0.1:5672, for tests: a throw-away vhost per test file (made and
 * removed with rabbitmqctl), and a small observer client that publishes events and collects
 * what arrives on a queue, by event, with timeouts.
 */

const run = promisify(execFile);
export const brokerHost = 'amqp://guest:guest@127.0.0.1:5672';

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}

/**
 * The broker's id of the connection with this client-given name (the service names its
 * connection `<app> pid <pid>`), for `rabbitmqctl close_connection`. Throws when there is none.
 */
export async function connectionOf(connectionName: string): Promise<string> {
  const out = await rabbitmqctl(
    'list_connections',
    '-q',
    '--no-table-headers',
    'pid',
    'client_properties',
  );
  for (const line of out.split('\n')) {
    if (line.includes(`"connection_name","${connectionName}"`)) return line.split('\t')[0] ?? '';
  }
  throw new Error(`no connection named ${connectionName}:\n${out}`);
}

/**
 * Makes the broker close one channel of a connection, the others left open: a passive
 * declare of a queue that does not exist, made in that channel's own process, which the broker
 * answers by closing the channel with 404 (as it closes a consume channel whose queue went
 * away, or after its consumer timeout).
 */
export async function closeChannelOf(connectionName: string, number: number): Promise<void> {
  const connection = await connectionOf(connectionName);
  const out = await rabbitmqctl(
    'list_channels',
    '-q',
    '--no-table-headers',
    'pid',
    'connection',
    'number',
  );
  const row = out
    .split('\n')
    .map((line) => line.split('\t'))
    .find(([, conn, n]) => conn === connection && Number(n) === number);
  if (row?.[0] === undefined) throw new Error(`no channel ${number} on ${connectionName}:\n${out}`);
  await rabbitmqctl(
    'eval',
    `rabbit_channel:do(rabbit_misc:string_to_pid("${row[0]}"), {'queue.declare', 0, <<"no-such-queue">>, true, false, false, false, false, []}), ok.`,
  );
}

export interface TestVhost {
  name: string;
  url: string;
  /** Deletes the vhost and everything in it. Idempotent. */
  remove(): Promise<void>;
}

/** Makes a fresh vhost that guest may use. Fails with a clear message when the broker is down. */
export async function createVhost(prefix = 'test'): Promise<TestVhost> {
  const name = `${prefix}-${randomUUID()}`;
  try {
    await rabbitmqctl('add_vhost', name);
    await rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
  } catch (error) {
    throw new Error(
      `cannot make a RabbitMQ vhost with rabbitmqctl (is RabbitMQ running on 127.0.0.1:5672?): ${String(error)}`,
    );
  }
  let removed = false;
  return {
    name,
    url: `${brokerHost}/${encodeURIComponent(name)}`,
    async remove() {
      if (removed) return;
      removed = true;
      await rabbitmqctl('delete_vhost', name);
    },
  };
}

/** Waits until the broker accepts AMQP connections again (after stop_app/start_app). */
export async function waitForBroker(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await amqp.connect(brokerHost, { timeout: 2000 });
      await connection.close();
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`broker not back within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export interface Received {
  body: Buffer;
  json: unknown;
  properties: amqp.MessageProperties;
  /** The broker's redelivered flag on this delivery. */
  redelivered: boolean;
}

export class BrokerObserver {
  readonly #connection: amqp.ChannelModel;
  readonly #channel: amqp.ConfirmChannel;
  /** Why the broker closed the channel, if it did (quoted by a failing collect). */
  #closedBy: string | undefined;

  private constructor(connection: amqp.ChannelModel, channel: amqp.ConfirmChannel) {
    this.#connection = connection;
    this.#channel = channel;
    channel.on('error', (error: unknown) => (this.#closedBy ??= String(error)));
  }

  static async open(url: string): Promise<BrokerObserver> {
    // The credentials decoded as UTF-8 (amqplib's own decoding of a URL's is Latin-1).
    const { username, password } = new URL(url);
    const credentials =
      username === '' && password === ''
        ? {}
        : {
            credentials: amqp.credentials.plain(
              decodeURIComponent(username),
              decodeURIComponent(password),
            ),
          };
    const connection = await amqp.connect(url, credentials);
    connection.on('error', () => undefined);
    const channel = await connection.createConfirmChannel();
    return new BrokerObserver(connection, channel);
  }

  /**
   * Declares a queue as the service does, so tests can publish before it starts: the input
   * queue (`queues.input`) as a quorum queue with the default delivery limit, others plain.
   */
  async assertQueue(
    queue: string,
    args: Record<string, unknown> | undefined = queue === queues.input ? quorumInput() : undefined,
  ): Promise<void> {
    await this.#channel.assertQueue(queue, { durable: true, arguments: args });
  }

  /** Publishes raw bodies to a queue, persistent, confirmed. */
  async publish(
    queue: string,
    bodies: Array<string | Buffer>,
    properties: (i: number) => amqp.Options.Publish = () => ({}),
  ): Promise<void> {
    bodies.forEach((body, i) => {
      this.#channel.sendToQueue(queue, Buffer.isBuffer(body) ? body : Buffer.from(body), {
        persistent: true,
        ...properties(i),
      });
    });
    await this.#channel.waitForConfirms();
  }

  /** Ready messages in a queue. */
  async depth(queue: string): Promise<number> {
    return (await this.#channel.checkQueue(queue)).messageCount;
  }

  /**
   * Consumes `queue` until `until(received)` holds, acking everything; resolves with what
   * arrived; rejects after `timeoutMs`, saying how many came.
   */
  async collect(
    queue: string,
    until: (received: Received[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<Received[]> {
    const received: Received[] = [];
    let tag = '';
    try {
      return await new Promise<Received[]>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `collect ${queue}: ${received.length} messages within ${timeoutMs} ms` +
                  (this.#closedBy === undefined ? '' : `; channel closed: ${this.#closedBy}`),
              ),
            ),
          timeoutMs,
        );
        this.#channel
          .consume(queue, (message) => {
            if (message === null) return;
            let json: unknown;
            try {
              json = JSON.parse(message.content.toString());
            } catch {
              json = undefined;
            }
            received.push({
              body: message.content,
              json,
              properties: message.properties,
              redelivered: message.fields.redelivered,
            });
            this.#channel.ack(message);
            if (until(received)) {
              clearTimeout(timer);
              resolve(received);
            }
          })
          .then((reply) => (tag = reply.consumerTag), reject);
      });
    } finally {
      if (tag !== '') await this.#channel.cancel(tag).catch(() => undefined);
    }
  }

  /** Deletes a queue (the broker cancels its consumers). */
  /** Declares an exchange (a test's own, of a type the service would not declare). */
  async assertExchange(name: string, type: string): Promise<void> {
    await this.#channel.assertExchange(name, type);
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.#channel.deleteQueue(queue);
  }

  async close(): Promise<void> {
    await this.#connection.close().catch(() => undefined);
  }
}

/** The default queue names (APP_NAME worker-base). */
export const queues = {
  input: 'worker-base.events',
  quarantine: 'worker-base.events.quarantine',
  results: 'worker-base.results',
  failed: 'worker-base.failed',
} as const;

/** The input queue's arguments as the service declares them by default (quorum, limit 5). */
export function quorumInput(deliveryLimit = 5, failed: string = queues.failed) {
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': deliveryLimit,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': failed,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** AMQP settings for a service consuming from `url`, with fast retries and stats. */
export function amqpSettings(
  url: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AMQP_URL: url,
    AMQP_RETRY_DELAYS_MS: '100,300',
    AMQP_PREFETCH: '20',
    AMQP_HEARTBEAT_S: '2',
    AMQP_STATS_INTERVAL_MS: '500',
    ...extra,
  };
}

/** A header of a received message (undefined when it has none of that name). */
export function headerOf(received: Pick<Received, 'properties'>, name: string): unknown {
  return received.properties.headers?.[name];
}

/** The AMQP fixture service's entry module (test/fixtures/amqp-service), built. */
export const amqpFixtureMain = fileURLToPath(
  new URL('../fixtures/amqp-service/main.js', import.meta.url),
);

/**
 * Environment for the AMQP fixture service consuming from `url`: `amqpSettings` plus quiet
 * JSON logs, a fast thread heartbeat, and `extra` (`FIXTURE_WORK_MS` sets the work per message).
 */
export function amqpFixtureEnv(
  url: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return amqpSettings(url, { LOG_PRETTY: 'false', HEARTBEAT_MS: '200', ...extra });
}

/** Spawns the AMQP fixture service consuming from `url` (see `amqpFixtureEnv`). */
export function startAmqpFixture(url: string, extra: Record<string, string> = {}): ServiceProcess {
  return new ServiceProcess({ script: amqpFixtureMain, env: amqpFixtureEnv(url, extra) });
}

/** A service consuming from a fresh vhost of its own, and an observer on that vhost. */
export interface ServiceOnVhost {
  vhost: TestVhost;
  observer: BrokerObserver;
  service: ServiceProcess;
}

/**
 * Makes a fresh vhost, starts a service on it (`start(url)`), and resolves once it is ready,
 * with an observer open on the same vhost. `stopOnVhost` undoes it all; a start that fails
 * undoes itself before it rejects, so nothing is left running.
 */
export async function startOnVhost(
  prefix: string,
  start: (url: string) => ServiceProcess,
): Promise<ServiceOnVhost> {
  const vhost = await createVhost(prefix);
  let service: ServiceProcess | undefined;
  try {
    service = start(vhost.url);
    // 30 s: a start-up under a full test run on the 2-core machine (load average 30) took
    // over 10 s.
    await service.waitFor('ready', 30_000);
    const observer = await BrokerObserver.open(vhost.url);
    return { vhost, observer, service };
  } catch (error) {
    await stopOnVhost({ vhost, service });
    throw error;
  }
}

/**
 * Stops the service, closes the observer and removes the vhost, whichever of them there is
 * (in an `after()`, the start may have failed).
 */
export async function stopOnVhost({
  vhost,
  observer,
  service,
}: Partial<ServiceOnVhost>): Promise<void> {
  await service?.stop();
  await observer?.close();
  await vhost?.remove();
}

/** A SUB socket on a service's ZeroMQ results, with what arrived first. */
export interface ResultsSubscriber {
  /** The frames of the first message that arrived. */
  first: Buffer[];
  /** How many times `publishOne` was called before it arrived. */
  published: number;
  receive(): Promise<Buffer[]>;
  close(): void;
}

/**
 * Subscribes to topic `results` on a service's ZeroMQ PUB endpoint and resolves once results
 * flow. A subscriber joins a PUB socket some time after it connects (ZeroMQ's slow joiner) and
 * no event says when, so `publishOne(i)` (which should make the service publish one result) is
 * called every 200 ms until a first message arrives; rejects after 50 calls.
 */
export async function subscribeResults(
  endpoint: string,
  publishOne: (i: number) => Promise<void>,
): Promise<ResultsSubscriber> {
  const log = createLogger({
    app: 'test',
    thread: 'main',
    version: '',
    level: 'warn',
    destination: process.stderr,
  });
  const zmq = new SocketRegistry({ log, lingerMs: 0 });
  try {
    const socket = await zmq.open('sub', 'test-subscriber');
    socket.connect(endpoint);
    socket.subscribe('results');
    const arrival = socket.receive();
    for (let published = 0; published < 50;) {
      await publishOne(published++);
      const first = await Promise.race([
        arrival,
        new Promise<undefined>((resolve) => setTimeout(resolve, 200, undefined)),
      ]);
      if (first !== undefined) {
        return { first, published, receive: () => socket.receive(), close: () => zmq.closeAll() };
      }
    }
    throw new Error(`no result on ${endpoint} after 50 publishes: the subscription never took`);
  } catch (error) {
    zmq.closeAll();
    throw error;
  }
}

/**
 * A loopback TCP proxy in front of the broker that can go silent: `freeze()` stops passing
 * bytes both ways while keeping the sockets open, as a hung broker or a dead network path
 * would, so the client's heartbeat check is what notices. `slowFromBroker(ms)` delays what
 * the broker sends from then on (in order): confirms and replies late, as from a loaded
 * broker.
 */
/** An AMQP 0-9-1 method by its class and method ids. */
export interface AmqpMethod {
  classId: number;
  methodId: number;
}

/** `queue.declare` (class 50, method 10). */
export const queueDeclare: AmqpMethod = { classId: 50, methodId: 10 };

/**
 * What a client sends, less the method frames of `drop`: the 8-byte protocol header, then
 * frames (type 1 byte, channel 2, size 4, payload, frame-end 0xCE; a method frame's payload
 * starts with its class and method ids), passed on whole as they complete.
 */
function framesWithout(drop: AmqpMethod): (data: Buffer) => Buffer {
  let pending = Buffer.alloc(0);
  let headerPassed = false;
  return (data) => {
    pending = Buffer.concat([pending, data]);
    const out: Buffer[] = [];
    if (!headerPassed) {
      if (pending.length < 8) return Buffer.alloc(0);
      out.push(pending.subarray(0, 8));
      pending = pending.subarray(8);
      headerPassed = true;
    }
    while (pending.length >= 7) {
      const total = 7 + pending.readUInt32BE(3) + 1;
      if (pending.length < total) break;
      const frame = pending.subarray(0, total);
      pending = pending.subarray(total);
      const dropped =
        frame[0] === 1 &&
        frame.readUInt16BE(7) === drop.classId &&
        frame.readUInt16BE(9) === drop.methodId;
      if (!dropped) out.push(frame);
    }
    return Buffer.concat(out);
  };
}

export class FreezableProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #frozen = false;
  #fromBrokerDelayMs = 0;
  #drop: AmqpMethod | undefined;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /**
   * `dropFromClient`: the client's method frames of that class and method are not passed on
   * (the broker never sees them, nor answers: `queueDeclare` leaves a start-up's declaration
   * unanswered while heartbeats and everything else still pass).
   */
  static async start(
    target = { host: '127.0.0.1', port: 5672 },
    options: { dropFromClient?: AmqpMethod } = {},
  ): Promise<FreezableProxy> {
    const server = net.createServer();
    const proxy = new FreezableProxy(server);
    proxy.#drop = options.dropFromClient;
    server.on('connection', (client) => proxy.#pipe(client, target));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  freeze(): void {
    this.#frozen = true;
  }

  slowFromBroker(delayMs: number): void {
    this.#fromBrokerDelayMs = delayMs;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }

  #pipe(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#sockets.add(from);
      const pass =
        from === client && this.#drop !== undefined ? framesWithout(this.#drop) : undefined;
      from.on('data', (data: Buffer) => {
        if (this.#frozen) return;
        const chunk = pass === undefined ? data : pass(data);
        // Timers of one delay run in the order they were set: the bytes keep their order.
        if (from === upstream && this.#fromBrokerDelayMs > 0) {
          setTimeout(() => to.write(chunk), this.#fromBrokerDelayMs);
        } else to.write(chunk);
      });
      from.on('error', () => {
        if (!this.#frozen) to.destroy();
      });
      from.on('close', () => {
        this.#sockets.delete(from);
        if (!this.#frozen) to.destroy();
      });
    }
  }
}

/**
 * A queue's ready and unacknowledged message counts, as the broker reports them
 * (`rabbitmqctl list_queues`: no management plugin needed). A message delivered and never
 * acked shows as unacknowledged, which the ready count of `checkQueue` cannot see.
 */
export async function queueCounts(
  vhost: string,
  queue: string,
): Promise<{ ready: number; unacked: number }> {
  const out = await rabbitmqctl(
    'list_queues',
    '-q',
    '--no-table-headers',
    '-p',
    vhost,
    'name',
    'messages_ready',
    'messages_unacknowledged',
  );
  for (const line of out.split('\n')) {
    const [name, ready, unacked] = line.split('\t');
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  throw new Error(`no queue ${queue} in vhost ${vhost}:\n${out}`);
}

/**
 * Waits until `queue` holds no message, ready or unacknowledged (acks are batched per turn
 * and reach the broker a moment after the results); rejects after `timeoutMs` with the counts.
 */
export async function expectAllAcked(
  vhost: string,
  queue: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queueCounts(vhost, queue);
    if (counts.ready === 0 && counts.unacked === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${queue}: ${counts.ready} ready and ${counts.unacked} unacknowledged after ${timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
