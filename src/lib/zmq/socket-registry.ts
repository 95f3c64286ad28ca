import { isMainThread } from 'node:worker_threads';
import type * as Zmq from 'zeromq';
import type { Logger } from '../primitives/log.js';
import { ErrorCodes, WorkerBaseError } from '../primitives/errors.js';

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
  /** Rejects with EAGAIN if the socket is closed while waiting, EBADF if already closed. */
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
    const socket: ManagedSocket = {
      name,
      type,
      createdAt,
      endpoints,
      get isClosed() {
        return raw.closed;
      },
      async bind(endpoint) {
        await raw.bind(endpoint);
        const bound = raw.lastEndpoint ?? endpoint;
        endpoints.push(bound);
        log.debug({ socket: name, endpoint: bound }, 'zmq socket bound');
        return bound;
      },
      connect(endpoint) {
        raw.connect(endpoint);
        endpoints.push(endpoint);
      },
      subscribe(prefix = '') {
        if (type !== 'sub') {
          throw new Error(`socket ${name} is a ${type} socket; only sub sockets subscribe`);
        }
        (raw as unknown as Pick<Zmq.Subscriber, 'subscribe'>).subscribe(prefix);
      },
      send(message) {
        // zeromq throws EBADF synchronously on a closed socket; callers get one shape.
        try {
          return (raw as unknown as Zmq.Writable).send(message as Zmq.MessageLike);
        } catch (error) {
          return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
      },
      receive: () => (raw as unknown as Zmq.Readable).receive(),
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
        return new zmq.Publisher(options);
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
