import type { MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../primitives/log.js';
import type { SerializedError } from '../primitives/error-serialization.js';
import type { KnownSecret } from '../primitives/secrets.js';

/**
 * The control protocol between the main thread and a worker thread. Control messages travel
 * on their own port, log lines on another, and application messages on thread channels, so a
 * flood of one never delays the others.
 */

/** Main -> worker. */
export type ControlToWorker =
  /** Stop taking work, finish what is in hand, return. */
  | { t: 'shutdown'; reason: string }
  /**
   * The process is stopping; this thread's own shutdown comes in its turn. What closing things
   * raise in it from now on (a linked peer stopped first) is the shutdown's noise.
   */
  | { t: 'stopping' }
  /** Switch this thread's loggers to `level`. */
  | { t: 'log-level'; level: LogLevel }
  /** Send a snapshot of this thread's runtime metrics (Prometheus), answered by `id`. */
  | { t: 'metrics-request'; id: number };

/** Per-thread vitals sent with every heartbeat. */
export interface ThreadVitals {
  /** The longest event-loop delay since the last beat, in ms (`primitives/loop-delay.ts`). */
  loopDelayMs: number;
  heapUsedBytes: number;
}

/** Worker -> main. */
export type ControlFromWorker =
  /** The worker's body started: everything it needs is set up. */
  | { t: 'ready' }
  /** Sent from the worker's event loop every heartbeat interval. */
  | ({ t: 'beat' } & ThreadVitals)
  /** The worker asks the process to shut down because of `error`. */
  | { t: 'die'; error: SerializedError }
  /** The worker's body returned; the thread is about to end. */
  | { t: 'finished'; shuttingDown: boolean }
  /** A metric recorded in the worker; main records it, tagged with the worker's name. */
  | MetricMessage
  /** The answer to a 'metrics-request': prom-client's JSON form of the thread's registry. */
  | { t: 'metrics-snapshot'; id: number; metrics: unknown[] };

/** A worker's metric, for the main thread's metrics sink. */
export interface MetricMessage {
  t: 'metric';
  kind: 'count' | 'gauge' | 'timing';
  name: string;
  value: number;
  tags?: Readonly<Record<string, string>>;
}

/** What a worker thread receives as `workerData`. */
export interface WorkerInit {
  name: string;
  config: unknown;
  logLevel: LogLevel;
  heartbeatMs: number;
  /** Main's pulse (main-watchdog.ts), and how long its silence may last; 0: no watch. */
  mainPulse: Int32Array;
  mainStallLimitMs: number;
  /** The secret texts main knows (secrets.ts), for this thread's own redaction. */
  secrets: KnownSecret[];
  control: MessagePort;
  logs: MessagePort;
  /** Application channel to the main thread. */
  main: MessagePort;
  /** Application channels to the peer workers this one was linked with, by peer name. */
  peers: Record<string, MessagePort>;
}
