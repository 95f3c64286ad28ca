import { isMainThread } from 'node:worker_threads';
import type * as Zmq from 'zeromq';
import type { Logger } from '../primitives/log.js';
import {
  ConfigError,
  DependencyError,
  ErrorCodes,
  WorkerBaseError,
  fieldOf,
  type WorkerBaseErrorOptions,
} from '../primitives/errors.js';

/**
 * The only door to ZeroMQ. Every socket is opened here, in the main thread, with a short
 * linger, and registered with the place in the code that opened it and its endpoints, so
 * shutdown can close them all and the escalation report can name what is still open.
 *
 * Why the main thread only: measured with zeromq 6.8.0 on Node 20 and 24, a worker thread
 * sending Buffers over 128 bytes (the zero-copy threshold) corrupts the heap and aborts the
 * process in about half the runs, and ending a worker with a pending receive aborts too
 * (zeromq.js issue 411). Threads talk over MessagePort; ZeroMQ is the process boundary.
 */

export type SocketType =
  'pub' | 'sub' | 'push' | 'pull' | 'req' | 'rep' | 'dealer' | 'router' | 'pair';

/** A message: one frame or several. */
export type ZmqMessage = string | Buffer | ReadonlyArray<string | Buffer>;

/** Our own small view of a zeromq socket. */
export interface ManagedSocket {
  readonly name: string;
  readonly type: SocketType;
  /** file:line:column of the code that opened it. */
  readonly createdAt: string;
  readonly endpoints: readonly string[];
  readonly isClosed: boolean;
  /** Binds; with a `*` port, resolves with the endpoint actually bound. */
  bind(endpoint: string): Promise<string>;
  connect(endpoint: string): void;
  /** SUB sockets: subscribe to a topic prefix ('' for all). */
  subscribe(prefix?: string): void;
  send(message: ZmqMessage): Promise<void>;
  /** Rejects with a SocketClosedError if the socket is closed while waiting or before. */
  receive(): Promise<Buffer[]>;
  close(): void;
}

export class ZmqInWorkerError extends WorkerBaseError {
  constructor() {
    super(
      ErrorCodes.ZMQ_IN_WORKER,
      'ZeroMQ sockets may only be opened in the main thread: zeromq.js corrupts the heap when ' +
        'a worker thread sends messages over 128 bytes, and aborts when a worker with a pending ' +
        'receive ends. Send the data to the main thread over the thread channel instead.',
    );
  }
}

/**
 * An operation on a socket that is closed, or closed under it (zeromq's EBADF, EAGAIN on a
 * pending receive, ETERM when its context ends): expected while shutting down, and a bug
 * otherwise. `classify()` says 'socket-closed'.
 */
export class SocketClosedError extends WorkerBaseError {
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.SOCKET_CLOSED, message, options);
  }
}

/**
 * zeromq.js v6's system errors (a numeric errno) for an operation on a closed socket (a connect
 * or subscribe gets ENOTSOCK).
 */
const closedSocketCodes = new Set(['EBADF', 'EAGAIN', 'ETERM', 'ENOTSOCK']);

/**
 * zeromq's bind errors that mean the host is set up wrong: an operator must act. ENODEV: the
 * host is no interface of this machine (a name that does not resolve to one); ENOENT: an ipc
 * path's directory is missing.
 */
const bindDependencyCodes = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENODEV', 'ENOENT']);

/**
 * zeromq's bind errors that mean the endpoint itself is malformed (a setting, however it passed
 * its schema: a fork's own field, a value made in code): a ConfigError (78) naming the socket
 * and the endpoint. They were returned as they came, an application error (70, reported) with
 * the message "Invalid argument".
 */
const bindConfigCodes = new Set(['EINVAL', 'ENAMETOOLONG', 'EPROTONOSUPPORT']);

/**
 * Our error for what zeromq threw, decided here where it enters: a closed socket becomes a
 * SocketClosedError, a bind the host refuses a DependencyError, a malformed endpoint a
 * ConfigError; anything else is returned as
 * it is (an Error, whatever was thrown).
 */
function fromZeromq(socket: string, what: string, error: unknown): Error {
  const code = fieldOf(error, 'code');
  const message = `zmq socket ${socket}: ${what}: ${String(fieldOf(error, 'message'))}`;
  if (typeof code === 'string' && typeof fieldOf(error, 'errno') === 'number') {
    if (closedSocketCodes.has(code)) return new SocketClosedError(message, { cause: error });
    if (what.startsWith('bind') && bindDependencyCodes.has(code)) {
      return new DependencyError('zeromq', message, { cause: error });
    }
    if (what.startsWith('bind') && bindConfigCodes.has(code)) {
      return new ConfigError(`${message} (not an endpoint ZeroMQ can bind)`, { cause: error });
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * How many sends on a PUB socket resolve at once before one waits a turn of the event loop
 * (zeromq.js yields after its own count of 512 without a send timeout; ours is 0).
 */
/**
 * Whether a process listens on an `ipc://` endpoint's socket file. libzmq's bind removes the
 * file and makes its own, so a second service bound to the same path took it over without a
 * word (measured: both `ready`, and the first one's subscribers got nothing from then on), where
 * a TCP port in use is refused. A file nobody listens on (left by a socket closed or a process
 * killed) refuses the probe: libzmq replaces it, as it should. Abstract names (`ipc://@name`)
 * have no file; their bind is refused by the kernel.
 */
function ipcInUse(endpoint: string): Promise<boolean> {
  const path = ipcPathOf(endpoint);
  if (path === undefined) return Promise.resolve(false);
  const { connect } = process.getBuiltinModule('node:net');
  return new Promise((resolve) => {
    const probe = connect({ path });
    const answer = (inUse: boolean): void => {
      probe.destroy();
      resolve(inUse);
    };
    probe.once('connect', () => answer(true));
    probe.once('error', () => answer(false)); // ENOENT: no file; ECONNREFUSED: nobody listens
    probe.setTimeout(1000, () => answer(true)); // a listener that never completes a connect
  });
}

/** An `ipc://` endpoint's socket file, if it has one (abstract names have none). */
function ipcPathOf(endpoint: string): string | undefined {
  const path = endpoint.startsWith('ipc://') ? endpoint.slice('ipc://'.length) : '';
  return path === '' || path.startsWith('@') ? undefined : path;
}

/**
 * What is at an `ipc://` endpoint's path that is not a socket file, if anything. libzmq's bind
 * removes whatever is there: a regular file (a typo in the path, a config file) was deleted
 * and replaced by the socket, without a word; a directory failed as "Address already in use".
 */
function notASocketAt(endpoint: string): string | undefined {
  const path = ipcPathOf(endpoint);
  if (path === undefined) return undefined;
  const { lstatSync } = process.getBuiltinModule('node:fs');
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat === undefined || stat.isSocket()) return undefined;
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return stat.isFile() ? 'a regular file' : 'a file that is not a socket';
}

/**
 * The largest message a PUB socket takes from a peer: subscriptions are all it receives, and a
 * topic longer than this is no topic of ours. libzmq keeps every subscription a peer sends,
 * however many: 100,000 of 1 KB each took a publisher from 52 to 894 MB of RSS (measured, the
 * peer in another process), and with this bound the peer is cut off at its first one (54 MB).
 * Short ones still add up (100,000 random 65-byte subscriptions: +325 MB): a PUB endpoint
 * trusts its peers (docs/amqp.md, ZeroMQ).
 */
const pubMaxInboundBytes = 256;

const pubSendsPerTurn = 256;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs a zeromq call; what it throws or rejects with is made into our error. */
/** `zeromqCall` for zeromq's synchronous calls (connect, subscribe). */
function zeromqCallSync<T>(socket: string, what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw fromZeromq(socket, what, error);
  }
}

/**
 * Turns IPv6 on for an endpoint with a bracketed address (`tcp://[::1]:5556`): off by default
 * in libzmq, such an endpoint failed to bind ("No such device", exit 69 at every start) though
 * the config takes it.
 */
function useIpv6For(raw: Zmq.Socket, endpoint: string): void {
  if (/^tcp:\/\/[^/]*\[/.test(endpoint) && !raw.ipv6) raw.ipv6 = true;
}

async function zeromqCall<T>(socket: string, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromZeromq(socket, what, error);
  }
}

/** The first stack frame outside this file: where the socket was asked for. */
function callerLocation(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const here = import.meta.url;
  const outside = frames.find((f) => !f.includes(here) && !f.includes('node:internal'));
  return (outside ?? 'unknown').trim().replace(/^at\s+/, '');
}

export interface SocketRegistryOptions {
  log: Logger;
  lingerMs: number;
}

export class SocketRegistry {
  readonly #log: Logger;
  readonly #lingerMs: number;
  readonly #sockets = new Set<ManagedSocket>();
  #zmq: typeof Zmq | undefined;

  constructor(options: SocketRegistryOptions) {
    this.#log = options.log.child({ component: 'zmq' });
    this.#lingerMs = options.lingerMs;
  }

  /**
   * Opens a socket. Throws ZmqInWorkerError in a worker thread (before zeromq is even loaded).
   */
  async open(type: SocketType, name: string): Promise<ManagedSocket> {
    if (!isMainThread) throw new ZmqInWorkerError();
    const createdAt = callerLocation();
    this.#zmq ??= await import('zeromq');
    const raw = this.#create(this.#zmq, type);
    const endpoints: string[] = [];
    const log = this.#log;
    const registry = this.#sockets;
    let sends = 0;
    const socket: ManagedSocket = {
      name,
      type,
      createdAt,
      endpoints,
      get isClosed() {
        return raw.closed;
      },
      async bind(endpoint) {
        const other = notASocketAt(endpoint);
        if (other !== undefined) {
          throw new ConfigError(
            `zmq socket ${name}: bind ${endpoint}: the path is ${other}, not a socket file; ZeroMQ would remove it`,
          );
        }
        if (await ipcInUse(endpoint)) {
          throw new DependencyError(
            'zeromq',
            `zmq socket ${name}: bind ${endpoint}: Address already in use (a process listens on that socket file)`,
          );
        }
        useIpv6For(raw, endpoint);
        await zeromqCall(name, `bind ${endpoint}`, () => raw.bind(endpoint));
        const bound = raw.lastEndpoint ?? endpoint;
        endpoints.push(bound);
        log.debug({ socket: name, endpoint: bound }, 'zmq socket bound');
        return bound;
      },
      connect(endpoint) {
        useIpv6For(raw, endpoint);
        zeromqCallSync(name, `connect ${endpoint}`, () => raw.connect(endpoint));
        endpoints.push(endpoint);
      },
      subscribe(prefix = '') {
        if (type !== 'sub') {
          throw new Error(`socket ${name} is a ${type} socket; only sub sockets subscribe`);
        }
        zeromqCallSync(name, 'subscribe', () =>
          (raw as unknown as Pick<Zmq.Subscriber, 'subscribe'>).subscribe(prefix),
        );
      },
      // zeromq throws EBADF synchronously on a closed socket; callers get one shape.
      send: (message) => {
        const sent = zeromqCall(name, 'send', () =>
          (raw as unknown as Zmq.Writable).send(message as Zmq.MessageLike),
        );
        // A PUB socket's sends resolve at once (see #create): every `pubSendsPerTurn`-th one
        // waits a turn, so a loop of awaited sends cannot starve the event loop.
        return type === 'pub' && ++sends % pubSendsPerTurn === 0 ? sent.then(nextTurn) : sent;
      },
      receive: () => zeromqCall(name, 'receive', () => (raw as unknown as Zmq.Readable).receive()),
      close() {
        if (!raw.closed) raw.close();
        registry.delete(socket);
      },
    };
    this.#sockets.add(socket);
    this.#log.debug({ socket: name, type, createdAt }, 'zmq socket opened');
    return socket;
  }

  /** Closes every open socket (linger applies). Idempotent. */
  closeAll(): void {
    for (const socket of [...this.#sockets]) {
      this.#log.debug({ socket: socket.name }, 'zmq socket closing');
      socket.close();
    }
  }

  /** Open sockets with where they were made and what they talk to. */
  describeOpen(): Array<{
    name: string;
    type: SocketType;
    createdAt: string;
    endpoints: string[];
  }> {
    return [...this.#sockets].map((s) => ({
      name: s.name,
      type: s.type,
      createdAt: s.createdAt,
      endpoints: [...s.endpoints],
    }));
  }

  #create(zmq: typeof Zmq, type: SocketType): Zmq.Socket & { lastEndpoint: string | null } {
    const options = { linger: this.#lingerMs };
    switch (type) {
      case 'pub':
        // A PUB socket never waits to send (at its high-water mark it drops), so a send
        // timeout of 0 changes nothing it does; but zeromq.js then sends without first asking
        // the socket for ZMQ_EVENTS (two system calls a message) and always resolves at once:
        // 5.6 -> 2.0 us of CPU a 4-frame message (docs/performance.md).
        return new zmq.Publisher({
          ...options,
          sendTimeout: 0,
          maxMessageSize: pubMaxInboundBytes,
        });
      case 'sub':
        return new zmq.Subscriber(options);
      case 'push':
        return new zmq.Push(options);
      case 'pull':
        return new zmq.Pull(options);
      case 'req':
        return new zmq.Request(options);
      case 'rep':
        return new zmq.Reply(options);
      case 'dealer':
        return new zmq.Dealer(options);
      case 'router':
        return new zmq.Router(options);
      case 'pair':
        return new zmq.Pair(options);
    }
  }
}
