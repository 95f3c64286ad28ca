import { z } from 'zod';
import { markNotSecret, markSecret } from './secrets.js';
import { maxTimerMs } from './waits.js';

/**
 * Schema building blocks for configuration sections. Every leaf says its expected form with
 * `.describe()`: a config error quotes it. Values from the environment arrive as strings and
 * are converted only when they plainly are what the leaf expects.
 */

const numeric = /^-?\d+(\.\d+)?$/;

/** Numbers from the environment arrive as strings; convert only what is plainly a number. */
function fromEnvNumber(value: unknown): unknown {
  return typeof value === 'string' && numeric.test(value.trim()) ? Number(value) : value;
}

function fromEnvBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
}

/**
 * An integer count of milliseconds, at least `min` and at most `max`, by default the longest
 * a timer keeps (`maxTimerMs`): measured, SHUTDOWN_DEADLINE_MS=2147483648 made every TERM exit
 * 124 at once ("shutdown did not finish within 2147483648 ms").
 */
export function millis(min: number, max = maxTimerMs) {
  return z
    .preprocess(fromEnvNumber, z.number().int().min(min).max(max))
    .describe(
      max === maxTimerMs
        ? `an integer number of milliseconds, from ${min} to ${max} (about 24.8 days, the longest timer)`
        : `an integer number of milliseconds, from ${min} to ${max}`,
    );
}

/** An integer in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .preprocess(fromEnvNumber, z.number().int().min(min).max(max))
    .describe(`an integer from ${min} to ${max}`);
}

/** A boolean; from the environment: true/false, 1/0, yes/no, on/off. */
export function flag() {
  return z.preprocess(fromEnvBoolean, z.boolean()).describe('true or false');
}

/**
 * A ZeroMQ endpoint: `tcp://HOST:PORT` (the port up to 65535; `*` or 0 for a free one when
 * binding), `ipc://PATH` or `inproc://NAME`. Checked here because ZeroMQ checks less: it binds
 * `tcp://127.0.0.1:99999` to port 34463 (the port modulo 65536), without a word. HOST is `*`,
 * an IPv6 address in brackets, or a name, an IPv4 address or an interface (letters, digits,
 * `.`, `-`, `_`): others (`tcp://%:5556`, `tcp://a;127.0.0.1:5556`) reached the bind and ended
 * the service with 70 and a bare "Invalid argument". An ipc path fits a socket address (107
 * bytes): a longer one failed the bind with "File name too long".
 */
export function zmqEndpoint() {
  return z
    .string()
    .refine(isZmqEndpoint, { message: 'not a ZeroMQ endpoint' })
    .describe(
      'a ZeroMQ endpoint: tcp://HOST:PORT (HOST a name, an address, an interface or *; PORT up to 65535, or *), ipc://PATH (up to 107 bytes) or inproc://NAME',
    );
}

/** The longest path of a Unix socket address (`sun_path` less its terminating NUL). */
const maxIpcPathBytes = 107;

function isZmqEndpoint(value: string): boolean {
  const tcp = /^tcp:\/\/(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\*|\d{1,5})$/.exec(value);
  if (tcp !== null) {
    const port = tcp[2] as string;
    return isTcpHost(tcp[1] as string) && (port === '*' || Number(port) <= 65_535);
  }
  const ipc = /^ipc:\/\/(\S+)$/.exec(value);
  if (ipc !== null) return Buffer.byteLength(ipc[1] as string) <= maxIpcPathBytes;
  return /^inproc:\/\/\S+$/.test(value);
}

/**
 * `*`, an IPv6 address in brackets, an IPv4 address, or a name or interface: labels of letters,
 * digits, `_` and `-`, none empty or at either end `-`. What looked like one and was not
 * (`256.1.1.1`, `[1]`, `-`, `.`) reached the bind and ended the service with 69 at every
 * start, "No such device", naming no setting.
 */
function isTcpHost(host: string): boolean {
  const { isIPv4, isIPv6 } = process.getBuiltinModule('node:net');
  if (host === '*') return true;
  if (host.startsWith('[')) return isIPv6(host.slice(1, -1));
  if (/^[\d.]+$/.test(host)) return isIPv4(host);
  return host
    .split('.')
    .every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(label));
}

/**
 * Empty (off) or a URL of one of `schemes` (`['http', 'https']`) that reads as it was meant.
 * A URL that does not parse says how to write one; so does one that parses as something else:
 * a password with `/`, `?` or `#` after digits (`amqp://svc:12/34@broker/`) reads as host
 * `svc`, port 12 and the rest as path, query or fragment, so the service would connect to
 * another host and fail as a dependency, restart after restart. An `@` after the host, or a
 * fragment (which no client sends), is taken for that. `description` is the leaf's expected
 * form; `problemOf`, what else a URL that parses must not hold (its area's own rule).
 */
export function optionalUrl(
  schemes: readonly string[],
  description: string,
  problemOf: (url: URL) => string | undefined = () => undefined,
) {
  return z
    .string()
    .superRefine((value, context) => {
      if (value === '') return;
      const problem = urlProblem(value, schemes) ?? problemOf(new URL(value));
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    })
    .describe(description);
}

function urlProblem(value: string, schemes: readonly string[]): string | undefined {
  const encode = 'percent-encode / @ : ? # % in the user name and password';
  if (/\s/.test(value)) return 'has white space';
  if (!URL.canParse(value)) return `is not a URL: ${encode}`;
  const url = new URL(value);
  if (!schemes.includes(url.protocol.slice(0, -1))) {
    return `is not a ${schemes.map((scheme) => `${scheme}://`).join(' or ')} URL`;
  }
  if (url.hash !== '' || `${url.pathname}${url.search}`.includes('@')) {
    return `has an @ or # after its host, so it names another host: ${encode} (and an @ after the host as %40)`;
  }
  if (percentDecoded(url.username) === undefined || percentDecoded(url.password) === undefined) {
    return `has a % in its user name or password that starts no percent-encoding: ${encode} (a % as %25)`;
  }
  return undefined;
}

/**
 * `text` percent-decoded, or undefined where a `%` starts no percent-encoded UTF-8 byte (a URL's
 * user name or password, an OTLP header's name or value).
 */
export function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * A token sent in an HTTP header or a URL (an API key, a bearer token), or empty (off). White
 * space at either end (a variable set from a file that `echo` wrote ends in a line break) and
 * characters a header cannot carry are refused: measured, an InfluxDB token with a trailing
 * line break wrote nothing and warned of nothing (Node refused the header before any request
 * went out), and at TERM its flush threw ERR_INVALID_CHAR uncaught (70, not 0).
 */
export function headerToken(description: string) {
  return z
    .string()
    .superRefine((value, context) => {
      const problem = headerValueProblem(value);
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    })
    .describe(description);
}

/** Why `value` cannot be sent as an HTTP header's value (its text never quoted); or undefined. */
export function headerValueProblem(value: string): string | undefined {
  if (/^\s|\s$/.test(value)) {
    return 'starts or ends with white space (a line break at its end, from a file an echo wrote?)';
  }
  // What Node's `validateHeaderValue` takes: a tab, printable ASCII and Latin-1.
  if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
    return 'has a control character or one beyond Latin-1, which an HTTP header cannot carry';
  }
  return undefined;
}

/** `sampleHttp` -> `SAMPLE_HTTP`: how a config name appears in an environment variable. */
export function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/**
 * Marks a leaf secret (a URL that may carry credentials, a DSN, a token, an API key): its
 * value is remembered for redaction and never printed whole, in config errors or logs. The
 * mark holds through what comes after it (`.describe()`, `.min()`, `.optional()`), inside a
 * `z.record` or a `z.union` too.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return markSecret(schema);
}

/**
 * Marks a leaf never secret, even when it comes from a `NAME_FILE` (a drill switch whose value
 * the logs must show). Apply it outermost, after `.describe()`.
 */
export function notSecret<T extends z.ZodType>(schema: T): T {
  return markNotSecret(schema);
}
