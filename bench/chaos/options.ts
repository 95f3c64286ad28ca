import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The chaos soak's settings, from its command line (`npm run chaos -- --count 2000`). */

/** The faults the soak can inject, in their default order. */
export const faultKinds = [
  'kill',
  'term',
  'worker-exit',
  'worker-hang',
  'pill',
  'close-connection',
  'broker-restart',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface ChaosOptions {
  /** Messages published in all, poison included. */
  count: number;
  /** Publishing is spread over this many seconds, so faults strike while work flows. */
  publishS: number;
  /** The whole run ends by then, whatever state it is in (a loss if results are missing). */
  deadlineS: number;
  /** The service's AMQP_PREFETCH: the duplicate bound is prefetch x faults. */
  prefetch: number;
  /** Faults in the order they are injected. */
  faults: FaultKind[];
  /** Poison messages (invalid JSON, JSON that is not an object), among `count`. */
  poison: number;
  /** `{"fail":"transient","times":1}` events, among `count`: retried once each. */
  transient: number;
  /** The service's SAMPLE_WORK_MS: with the rate, it sets how many messages are in flight. */
  workMs: number;
  /** How long the broker stays stopped (after stop_app returns) in a broker restart. */
  brokerDownMs: number;
  /** Where the JSON report goes. */
  out: string;
}

const usage = `usage: npm run chaos -- [--count N] [--publish-s S] [--deadline-s S] [--prefetch N]
  [--faults kill,term,worker-exit,worker-hang,pill,close-connection,broker-restart]
  [--poison N] [--transient N] [--work-ms MS] [--broker-down-ms MS] [--out FILE]`;

function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`--${name} must be a whole number >= ${min} (got '${text}')\n${usage}`);
  }
  return value;
}

/** Reads the options; throws an Error carrying the usage on a bad one. */
export function parseChaosOptions(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string' },
      'publish-s': { type: 'string' },
      'deadline-s': { type: 'string' },
      prefetch: { type: 'string' },
      faults: { type: 'string' },
      poison: { type: 'string' },
      transient: { type: 'string' },
      'work-ms': { type: 'string' },
      'broker-down-ms': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const count = positive('count', values.count, 10_000, 10);
  const faults = (values.faults ?? faultKinds.join(','))
    .split(',')
    .filter((f) => f !== '')
    .map((f) => {
      if (!(faultKinds as readonly string[]).includes(f)) {
        throw new Error(`--faults: unknown fault '${f}'\n${usage}`);
      }
      return f as FaultKind;
    });
  const options: ChaosOptions = {
    count,
    publishS: positive('publish-s', values['publish-s'], 60),
    deadlineS: positive('deadline-s', values['deadline-s'], 300),
    prefetch: positive('prefetch', values.prefetch, 50),
    faults,
    poison: positive('poison', values.poison, Math.max(5, Math.round(count / 500)), 0),
    transient: positive('transient', values.transient, Math.max(5, Math.round(count / 100)), 0),
    workMs: positive('work-ms', values['work-ms'], 100, 0),
    brokerDownMs: positive('broker-down-ms', values['broker-down-ms'], 0, 0),
    out: values.out ?? fileURLToPath(new URL('../../../bench/chaos-results.json', import.meta.url)),
  };
  if (options.poison + options.transient >= count) {
    throw new Error(`--poison plus --transient must leave plain events among --count\n${usage}`);
  }
  return options;
}
