import { z } from 'zod';
import { integer, optionalUrl, secret } from '../primitives/config-fields.js';

/**
 * The `amqp` configuration section and its environment variables. AMQP is off while the URL
 * is empty. Queue and exchange names left empty default to `<app>.events`, `<app>.results`,
 * `<app>.failed`, `<app>.events.quarantine` and `<app>` (see `amqpNames`).
 */

const numeric = /^\d+$/;

/**
 * "60000, 180000" -> [60000, 180000]; an empty string -> [] (no retries). Anything else stays
 * a string, so the error names the whole variable and its expected form.
 */
function toNumberList(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const parts = value.trim() === '' ? [] : value.split(',').map((p) => p.trim());
  return parts.every((p) => numeric.test(p)) ? parts.map(Number) : value;
}

function int(min: number, max: number, what: string) {
  return integer(min, max).describe(`${what}, an integer from ${min} to ${max}`);
}

const name = z
  .string()
  .regex(/^$|^[\w.:-]{1,200}$/)
  .describe('empty (the default name) or letters, digits and . _ : -');

/**
 * The heartbeat's range. Never 0, which turns heartbeats off: a broker gone silent (a network
 * cut that sends no reset, a frozen broker) would then go unnoticed, and the service would
 * look alive while it takes no message (measured: no exit within 60 s, against 8 s with 1).
 * The socket has no TCP keep-alive, so only a write's retransmissions giving up, many minutes
 * later, would end it, and an idle consumer writes nothing.
 */
const heartbeatRange = { min: 1, max: 600 } as const;

/**
 * A `heartbeat` in the URL's query wins over AMQP_HEARTBEAT_S (amqp-client.ts leaves it, and
 * amqplib reads it), so it is held to the same range; amqplib reads it with parseInt, so
 * `heartbeat=0.5` turned heartbeats off as `heartbeat=0` does, and `heartbeat=x` is NaN.
 */
function urlHeartbeatProblem(url: URL): string | undefined {
  const values = url.searchParams.getAll('heartbeat');
  if (values.length === 0) return undefined;
  const { min, max } = heartbeatRange;
  const value = values[0] ?? '';
  const seconds = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (values.length === 1 && seconds >= min && seconds <= max) return undefined;
  return `has heartbeat=${values.join('&heartbeat=')} in its query, which is not one integer from ${min} to ${max}: the query's heartbeat overrides AMQP_HEARTBEAT_S, and 0 (or a fraction) turns heartbeats off, so a broker gone silent goes unnoticed (leave it out and set AMQP_HEARTBEAT_S)`;
}

export const amqpConfigSchema = z.object({
  url: secret(
    optionalUrl(
      ['amqp', 'amqps'],
      'empty (AMQP off) or amqp://user:password@host:port/vhost (amqps:// for TLS)',
      urlHeartbeatProblem,
    ),
  ),
  prefetch: int(1, 65_535, 'unacknowledged messages per consumer'),
  heartbeatS: int(
    heartbeatRange.min,
    heartbeatRange.max,
    'the heartbeat in seconds (a silent broker is noticed within about two; never 0, which turns heartbeats off)',
  ),
  connectTimeoutMs: int(
    100,
    600_000,
    'milliseconds to wait for the connection to open, and for each start-up call to the broker (a channel, the declarations, the consume)',
  ),
  retryDelaysMs: z
    .preprocess(
      toNumberList,
      z
        .array(
          z
            .number()
            .int()
            .min(1)
            .max(2 ** 31 - 1),
        )
        .max(25),
    )
    .describe('comma-separated retry delays in milliseconds, e.g. 60000,180000,540000'),
  exchange: name,
  inputQueue: name,
  resultsQueue: name,
  failedQueue: name,
  maxMessageBytes: int(1, 128 * 1024 * 1024, 'the largest message body accepted, in bytes'),
  messageTimeoutMs: int(
    0,
    86_400_000,
    'milliseconds a message may be in hand before its handler counts as stuck (0: no limit)',
  ).refine((ms) => ms === 0 || ms >= 1000, 'is 0 (off) or at least 1000'),
  statsIntervalMs: int(100, 86_400_000, 'milliseconds between queue statistics'),
  blockedTimeoutMs: int(
    100,
    3_600_000,
    'milliseconds a publish may wait on a connection the broker has blocked',
  ),
  queueType: z
    .enum(['quorum', 'classic'])
    .describe('quorum (delivery limit, quarantine) or classic (unprotected: no delivery limit)'),
  deliveryLimit: int(1, 1000, 'deliveries without an ack before a message is dead-lettered'),
  quarantineQueue: name,
  quarantineDelayMs: int(
    0,
    600_000,
    'milliseconds after ready before the quarantine is consumed (above supervisord startsecs)',
  ),
});

export type AmqpConfig = z.infer<typeof amqpConfigSchema>;

/** Environment variable -> config path for the `amqp` section. */
export const amqpEnv = {
  AMQP_URL: 'amqp.url',
  AMQP_PREFETCH: 'amqp.prefetch',
  AMQP_HEARTBEAT_S: 'amqp.heartbeatS',
  AMQP_CONNECT_TIMEOUT_MS: 'amqp.connectTimeoutMs',
  AMQP_RETRY_DELAYS_MS: 'amqp.retryDelaysMs',
  AMQP_EXCHANGE: 'amqp.exchange',
  AMQP_INPUT_QUEUE: 'amqp.inputQueue',
  AMQP_RESULTS_QUEUE: 'amqp.resultsQueue',
  AMQP_FAILED_QUEUE: 'amqp.failedQueue',
  AMQP_MAX_MESSAGE_BYTES: 'amqp.maxMessageBytes',
  AMQP_MESSAGE_TIMEOUT_MS: 'amqp.messageTimeoutMs',
  AMQP_STATS_INTERVAL_MS: 'amqp.statsIntervalMs',
  AMQP_BLOCKED_TIMEOUT_MS: 'amqp.blockedTimeoutMs',
  AMQP_QUEUE_TYPE: 'amqp.queueType',
  AMQP_DELIVERY_LIMIT: 'amqp.deliveryLimit',
  AMQP_QUARANTINE_QUEUE: 'amqp.quarantineQueue',
  AMQP_QUARANTINE_DELAY_MS: 'amqp.quarantineDelayMs',
} as const satisfies Record<string, string>;

/** The broker-side names the service uses, defaults filled in. */
export interface AmqpNames {
  exchange: string;
  inputQueue: string;
  resultsQueue: string;
  failedQueue: string;
  /**
   * Where redelivered input messages are moved to be processed one at a time (quorum input
   * only; undefined for a classic input queue, which has no delivery limit to protect).
   */
  quarantineQueue: string | undefined;
  /** The input queue's type, and the delivery limit of the input and quarantine queues. */
  queueType: 'quorum' | 'classic';
  deliveryLimit: number;
  /** One delay queue per retry, in order: TTL, then dead-lettered back to the input queue. */
  retryQueues: ReadonlyArray<{ name: string; delayMs: number }>;
}

/** Resolves the names from the config: empty names become `<app>`, `<app>.events`, ... */
export function amqpNames(appName: string, amqp: AmqpConfig): AmqpNames {
  const inputQueue = amqp.inputQueue || `${appName}.events`;
  return {
    exchange: amqp.exchange || appName,
    inputQueue,
    resultsQueue: amqp.resultsQueue || `${appName}.results`,
    failedQueue: amqp.failedQueue || `${appName}.failed`,
    quarantineQueue:
      amqp.queueType === 'quorum' ? amqp.quarantineQueue || `${inputQueue}.quarantine` : undefined,
    queueType: amqp.queueType,
    deliveryLimit: amqp.deliveryLimit,
    // Named by delay: changing a delay declares a new queue instead of clashing with the
    // old one's arguments (a PRECONDITION_FAILED channel error).
    retryQueues: amqp.retryDelaysMs.map((delayMs) => ({
      name: `${inputQueue}.retry.${delayMs}ms`,
      delayMs,
    })),
  };
}
