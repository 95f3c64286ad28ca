import { z } from 'zod';
import {
  headerToken,
  headerValueProblem,
  integer,
  millis,
  optionalUrl,
  percentDecoded,
  secret,
} from '../primitives/config-fields.js';

/**
 * The observability section of the core configuration (`telemetry`). Each integration is off
 * while its switch is empty: `SENTRY_DSN`, `INFLUX_URL`, `CRONITOR_API_KEY`, `HEALTH_PORT`.
 */

/** A comma-separated list from the environment; a JSON array from config/. */
function list() {
  return z
    .preprocess(
      (value) =>
        typeof value === 'string'
          ? value
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : value,
      z.array(z.string().min(1)),
    )
    .describe('a comma-separated list of names');
}

/** Empty (off) or an http(s) URL. */
function httpUrl(example: string) {
  return optionalUrl(['http', 'https'], `empty (off) or an http(s) URL such as ${example}`);
}

/**
 * Headers for the OTLP exporter as OpenTelemetry's `OTEL_EXPORTER_OTLP_HEADERS` writes them:
 * `name=value` pairs separated by commas, each part percent-encoded where it needs to be
 * (`api-key=abc%2C1,x-team=t`). Read here, not only by the exporter: the `_FILE` form (a
 * Kubernetes secret) works, each value is a remembered secret, and an entry the exporter would
 * drop with a debug line (no `=`, an empty name or value, a % that starts no encoding) is a
 * config error naming its place, never its text.
 */
function otlpHeaders() {
  return z
    .string()
    .transform((text, context) => {
      const headers = parseOtlpHeaders(text);
      if (typeof headers === 'string') {
        context.addIssue({ code: 'custom', message: headers });
        return z.NEVER;
      }
      return headers;
    })
    .describe(
      "empty, or name=value pairs separated by commas, percent-encoded (OpenTelemetry's form)",
    );
}

/** A header's name, as HTTP writes it (a token). */
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The headers `text` names, or why it does not (the entry's place, never its text). */
function parseOtlpHeaders(text: string): Record<string, string> | string {
  const headers: Record<string, string> = {};
  const entries = text.split(',');
  for (const [index, entry] of entries.entries()) {
    // Empty entries (a trailing comma) are nothing, as in the exporter's own parse.
    if (entry.trim() === '') continue;
    const place = `entry ${index + 1} of ${entries.length}`;
    const equals = entry.indexOf('=');
    if (equals < 0) return `${place} has no = (name=value)`;
    const name = percentDecoded(entry.slice(0, equals).trim());
    const value = percentDecoded(entry.slice(equals + 1).trim());
    if (name === undefined || value === undefined) {
      return `${place} has a % that starts no percent-encoding (a % as %25)`;
    }
    if (!headerName.test(name)) return `${place} has no header name before its =`;
    if (value === '') return `${place} has an empty value`;
    const problem = headerValueProblem(value);
    if (problem !== undefined) return `${place}: its value ${problem}`;
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

/**
 * An OpenTelemetry boolean (`OTEL_SDK_DISABLED`): its specification takes only `true` and
 * `false` (any case; empty is unset) and forbids reading others as true, so `1`, `yes` or `on`,
 * which the project's own switches take, are refused here by name rather than read as false
 * (tracing left on while the operator meant it off) or as true (against the specification).
 */
function otelFlag() {
  return z
    .preprocess(
      (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
      z.union([z.boolean(), z.enum(['true', 'false']).transform((text) => text === 'true')]),
    )
    .describe("true or false (OpenTelemetry's booleans: 1, yes and on are not among them)");
}

/** OpenTelemetry's standard sampler names (`OTEL_TRACES_SAMPLER`). */
export const traceSamplers = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * The ratio `OTEL_TRACES_SAMPLER_ARG` gives a traceidratio sampler: 1 when empty, undefined
 * when it is no number from 0 to 1.
 */
export function samplerRatio(arg: string): number | undefined {
  const text = arg.trim();
  if (text === '') return 1;
  const ratio = Number(text);
  return Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : undefined;
}

/**
 * Empty, or a DSN the Sentry SDK takes: http(s), a key of letters, digits and `_` (a secret
 * after `:` too, the old form), a host (a name, or an IPv6 address in brackets), a port up to
 * 65535, then a path ending in the project's number. What the old check let through and the
 * SDK refused (`-` in the key, a key with `"`, `%` or non-ASCII, an empty key, port 70000)
 * left the service running with "sentry error reports on" and no report ever sent, only a
 * line per thread on stderr ("Invalid Sentry Dsn"). The unit test holds this to the SDK's own
 * parser (`makeDsn`).
 */
function isSentryDsn(value: string): boolean {
  if (value === '') return true;
  const dsn =
    /^https?:\/\/\w+(?::\w*)?@(?:\[[:.%\w]+\]|[\w.-]+)(?::(\d{1,5}))?\/(?:[^\s?#]*\/)?\d+$/.exec(
      value,
    );
  return dsn !== null && (dsn[1] === undefined || Number(dsn[1]) <= 65_535);
}

/** The OTLP transports offered (`OTEL_EXPORTER_OTLP_PROTOCOL`). */
export const otlpProtocols = ['http/protobuf', 'http/json'] as const;

export const telemetryConfigSchema = z
  .object({
    sentry: z.object({
      dsn: secret(
        z
          .string()
          .refine(isSentryDsn)
          .describe('empty (off) or a Sentry DSN such as https://KEY@o1.ingest.sentry.io/123'),
      ),
      /** Error names and logger components whose errors are not reported. */
      ignore: list(),
      flushTimeoutMs: millis(10),
    }),
    influx: z.object({
      url: secret(httpUrl('http://influxdb:8086')),
      token: secret(headerToken('an InfluxDB API token (may be empty for open stores)')),
      org: z.string().describe('an InfluxDB organisation name'),
      bucket: z.string().describe('an InfluxDB bucket name'),
      batchSize: integer(1, 100_000),
      flushIntervalMs: millis(10),
      maxBufferPoints: integer(1, 10_000_000),
      timeoutMs: millis(10),
      flushTimeoutMs: millis(10),
    }),
    cronitor: z.object({
      apiKey: secret(headerToken('empty (off) or a cronitor API key')),
      pingUrl: secret(httpUrl('https://cronitor.link/ping')),
      timeoutMs: millis(10),
    }),
    tracing: z.object({
      /** The OTLP/HTTP base URL (`/v1/traces` is added); the exporter reads it too. */
      endpoint: secret(httpUrl('http://otel-collector:4318')),
      /** The full traces URL, when given instead of (or over) the base URL. */
      tracesEndpoint: secret(httpUrl('http://otel-collector:4318/v1/traces')),
      /** Sent with every export; the traces' own (`..._TRACES_HEADERS`) win by name. */
      // Defaulted: a defaults file written before these keys existed (a fork's) still loads.
      headers: secret(otlpHeaders()).default({}),
      tracesHeaders: secret(otlpHeaders()).default({}),
      /** OTLP over HTTP: protobuf (the specification's default) or JSON; gRPC is not offered. */
      protocol: z.enum(otlpProtocols).describe(`one of ${otlpProtocols.join(', ')}`),
      tracesProtocol: z
        .enum(['', ...otlpProtocols])
        .describe(`empty (OTEL_EXPORTER_OTLP_PROTOCOL) or one of ${otlpProtocols.join(', ')}`),
      /** `service.name`; the app name when empty. */
      serviceName: z.string().describe('a service name (empty: the app name)'),
      // Case-insensitive, as OpenTelemetry's specification asks of its enumerations.
      sampler: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
          z.enum(traceSamplers),
        )
        .describe(`one of ${traceSamplers.join(', ')}`),
      // Checked below, and only for the samplers that read it: the others ignore it.
      samplerArg: z
        .string()
        .describe('empty, or the ratio for the traceidratio samplers, from 0 to 1'),
      sdkDisabled: otelFlag(),
      exporter: z.enum(['otlp', 'none']).describe('otlp or none'),
      flushTimeoutMs: millis(10),
    }),
    health: z.object({
      port: integer(0, 65_535).describe('a TCP port, 1 to 65535, or 0 for off'),
      host: z.string().min(1).describe('an interface address such as 127.0.0.1 or 0.0.0.0'),
      maxLoopDelayMs: millis(1),
      /** On a requested stop: readiness false at once, intake stops this much later. */
      readinessDelayMs: integer(0, 600_000).describe(
        'an integer number of milliseconds from 0 (off) to 600000',
      ),
    }),
  })
  .superRefine((t, ctx) => {
    const { sampler, samplerArg } = t.tracing;
    if (sampler.endsWith('traceidratio') && samplerRatio(samplerArg) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tracing', 'samplerArg'],
        message: `must be empty or a ratio from 0 to 1 for the ${sampler} sampler`,
      });
    }
    if (t.influx.url === '') return;
    for (const key of ['org', 'bucket'] as const) {
      if (t.influx[key] === '') {
        ctx.addIssue({
          code: 'custom',
          path: ['influx', key],
          message: 'must be set when telemetry.influx.url (INFLUX_URL) is',
        });
      }
    }
  });

export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

/** Environment variable -> config path for the telemetry section. */
export const telemetryEnv = {
  SENTRY_DSN: 'telemetry.sentry.dsn',
  SENTRY_IGNORE: 'telemetry.sentry.ignore',
  SENTRY_FLUSH_TIMEOUT_MS: 'telemetry.sentry.flushTimeoutMs',
  INFLUX_URL: 'telemetry.influx.url',
  INFLUX_TOKEN: 'telemetry.influx.token',
  INFLUX_ORG: 'telemetry.influx.org',
  INFLUX_BUCKET: 'telemetry.influx.bucket',
  INFLUX_BATCH_SIZE: 'telemetry.influx.batchSize',
  INFLUX_FLUSH_INTERVAL_MS: 'telemetry.influx.flushIntervalMs',
  INFLUX_MAX_BUFFER_POINTS: 'telemetry.influx.maxBufferPoints',
  INFLUX_TIMEOUT_MS: 'telemetry.influx.timeoutMs',
  INFLUX_FLUSH_TIMEOUT_MS: 'telemetry.influx.flushTimeoutMs',
  CRONITOR_API_KEY: 'telemetry.cronitor.apiKey',
  CRONITOR_PING_URL: 'telemetry.cronitor.pingUrl',
  CRONITOR_TIMEOUT_MS: 'telemetry.cronitor.timeoutMs',
  HEALTH_PORT: 'telemetry.health.port',
  HEALTH_HOST: 'telemetry.health.host',
  HEALTH_MAX_LOOP_DELAY_MS: 'telemetry.health.maxLoopDelayMs',
  SHUTDOWN_READINESS_DELAY_MS: 'telemetry.health.readinessDelayMs',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'telemetry.tracing.endpoint',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'telemetry.tracing.tracesEndpoint',
  OTEL_EXPORTER_OTLP_HEADERS: 'telemetry.tracing.headers',
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'telemetry.tracing.tracesHeaders',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'telemetry.tracing.protocol',
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'telemetry.tracing.tracesProtocol',
  OTEL_SERVICE_NAME: 'telemetry.tracing.serviceName',
  OTEL_TRACES_SAMPLER: 'telemetry.tracing.sampler',
  OTEL_TRACES_SAMPLER_ARG: 'telemetry.tracing.samplerArg',
  OTEL_SDK_DISABLED: 'telemetry.tracing.sdkDisabled',
  OTEL_TRACES_EXPORTER: 'telemetry.tracing.exporter',
  TRACING_FLUSH_TIMEOUT_MS: 'telemetry.tracing.flushTimeoutMs',
} as const satisfies Record<string, string>;
