import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/lib/primitives/errors.js';
import { isTracingOn } from '../../../src/lib/telemetry/switches.js';
import { samplerRatio } from '../../../src/lib/telemetry/telemetry-config.js';
import { testConfig } from '../../helpers/core.js';
import { forgetSecrets, redactSecrets } from '../../../src/lib/primitives/secrets.js';
import { captureLog } from '../../helpers/capture-log.js';
import { InfluxMetrics } from '../../../src/lib/telemetry/influx-metrics.js';

/** Tracing is configured by OpenTelemetry's standard variables, validated like every other. */

test('tracing is off by default and on with an OTLP endpoint, unless disabled', () => {
  assert.equal(isTracingOn(testConfig().telemetry), false);
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
  assert.equal(isTracingOn(testConfig(endpoint).telemetry), true);
  const traces = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' };
  assert.equal(isTracingOn(testConfig(traces).telemetry), true);
  assert.equal(
    isTracingOn(testConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' }).telemetry),
    false,
  );
  assert.equal(
    isTracingOn(testConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).telemetry),
    false,
  );
});

test('a bad sampler or ratio names the variable and the expected form', () => {
  const bad: Array<Record<string, string>> = [
    { OTEL_TRACES_SAMPLER: 'sometimes' },
    { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
  ];
  for (const env of bad) {
    try {
      testConfig(env);
      assert.fail(`accepted ${JSON.stringify(env)}`);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      const [name] = Object.keys(env).slice(-1);
      assert.match(error.message, new RegExp(name!));
    }
  }
  const ratio = testConfig({
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  assert.equal(ratio.telemetry.tracing.samplerArg, '0.25');
});

test("sampler names are read case-insensitively, and a ratio only where a sampler reads one (OpenTelemetry's specification)", () => {
  const named = testConfig({ OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio' });
  assert.equal(named.telemetry.tracing.sampler, 'parentbased_traceidratio');
  for (const arg of ['.5', ' 0.5 ', '1', '0', '1e-1']) {
    assert.ok(
      samplerRatio(
        testConfig({ OTEL_TRACES_SAMPLER_ARG: arg, OTEL_TRACES_SAMPLER: 'traceidratio' }).telemetry
          .tracing.samplerArg,
      ) !== undefined,
      arg,
    );
  }
  assert.equal(samplerRatio('.5'), 0.5);
  assert.equal(samplerRatio(''), 1);
  for (const arg of ['-0.1', '1.01', 'half', 'NaN', 'Infinity']) {
    assert.equal(samplerRatio(arg), undefined, arg);
  }
  // A sampler that takes no ratio ignores one (a shared environment may set it for others).
  const ignored = testConfig({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'abc' });
  assert.equal(ignored.telemetry.tracing.sampler, 'always_on');
  assert.throws(
    () =>
      testConfig({
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: 'abc',
      }),
    (error: Error) =>
      error instanceof ConfigError &&
      /telemetry\.tracing\.samplerArg \(environment OTEL_TRACES_SAMPLER_ARG\) = "abc": must be empty or a ratio from 0 to 1 for the parentbased_traceidratio sampler/.test(
        error.message,
      ),
  );
});

test('a token with a line break at its end, or a character a header cannot carry, names its variable, masked', () => {
  // INFLUX_TOKEN set from `$(cat file)` keeps no newline, from a file `echo` wrote read by
  // other means it may: Node refused the header, nothing was written and nothing warned.
  const cases: Array<[string, string, RegExp]> = [
    [
      'INFLUX_TOKEN',
      'tok_Influx42xyz\n',
      /telemetry\.influx\.token \(environment INFLUX_TOKEN\) = \[Redacted\] \(secret\): starts or ends with white space/,
    ],
    ['INFLUX_TOKEN', ' tok_Influx42xyz', /starts or ends with white space/],
    [
      'CRONITOR_API_KEY',
      'key_Cron\u000142xyz',
      /telemetry\.cronitor\.apiKey \(environment CRONITOR_API_KEY\) = \[Redacted\] \(secret\): has a control character/,
    ],
    ['INFLUX_TOKEN', 'tok_Influx€42xyz', /has a control character or one beyond Latin-1/],
  ];
  for (const [name, value, expected] of cases) {
    assert.throws(
      () => testConfig({ [name]: value }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, expected);
        assert.ok(!error.message.includes('42xyz'), error.message);
        return true;
      },
    );
  }
  // A tab inside, Latin-1 letters: what a header carries.
  assert.equal(testConfig({ INFLUX_TOKEN: 'tok\tÄ42xyz' }).telemetry.influx.token, 'tok\tÄ42xyz');
});

test('InfluxMetrics built with a token no header can carry fails at start with a ConfigError, sending nothing', () => {
  const metrics = new InfluxMetrics({
    url: 'http://127.0.0.1:9',
    token: 'tok\n',
    org: 'o',
    bucket: 'b',
    batchSize: 10,
    flushIntervalMs: 100,
    maxBufferPoints: 10,
    timeoutMs: 100,
    flushTimeoutMs: 100,
    tags: {},
    log: captureLog().log,
  });
  assert.throws(
    () => metrics.start(),
    (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /the InfluxDB token cannot go in an HTTP header/);
      return true;
    },
  );
});

test("OTLP headers are read by the config, OpenTelemetry's form: each value a remembered secret, a bad entry named by its place, masked", (t) => {
  forgetSecrets();
  t.after(() => forgetSecrets());
  const { tracing } = testConfig({
    OTEL_EXPORTER_OTLP_HEADERS: 'Api-Key=hdr_Generic42%2Cxy, x-team = blue ,',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=green',
  }).telemetry;
  assert.deepEqual(tracing.headers, { 'api-key': 'hdr_Generic42,xy', 'x-team': 'blue' });
  assert.deepEqual(tracing.tracesHeaders, { 'x-team': 'green' });
  // The value alone, decoded: what an exporter's error or a debug line would quote.
  assert.equal(redactSecrets('sent hdr_Generic42,xy'), 'sent [Redacted]');
  const bad: Array<[string, RegExp]> = [
    ['api-key', /entry 1 of 1 has no = \(name=value\)/],
    ['a=1,=hdr_Bad42xyz', /entry 2 of 2 has no header name before its =/],
    ['api-key=hdr_Bad42%zz', /entry 1 of 1 has a % that starts no percent-encoding/],
    ['api-key=', /entry 1 of 1 has an empty value/],
    ['api-key=hdr_Bad42%0Axyz', /entry 1 of 1: its value has a control character/],
  ];
  for (const [value, expected] of bad) {
    assert.throws(
      () => testConfig({ OTEL_EXPORTER_OTLP_HEADERS: value }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(
          error.message,
          /telemetry\.tracing\.headers \(environment OTEL_EXPORTER_OTLP_HEADERS\) = \[Redacted\] \(secret\)/,
        );
        assert.match(error.message, expected);
        assert.ok(!error.message.includes('Bad42'), error.message);
        return true;
      },
    );
  }
});

test("OTEL_SDK_DISABLED takes OpenTelemetry's booleans only: true or false, any case; 1, yes, on are refused by name", () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
  for (const [value, on] of [
    ['TRUE', false],
    ['true', false],
    [' False ', true],
  ] as const) {
    assert.equal(isTracingOn(testConfig({ ...endpoint, OTEL_SDK_DISABLED: value }).telemetry), on);
  }
  for (const value of ['1', 'yes', 'on', '0']) {
    assert.throws(
      () => testConfig({ ...endpoint, OTEL_SDK_DISABLED: value }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(
          error.message,
          /telemetry\.tracing\.sdkDisabled \(environment OTEL_SDK_DISABLED\) = "\w+": .*expected true or false \(OpenTelemetry's booleans/,
        );
        return true;
      },
    );
  }
});

test('an OTLP header value that is a plain word (a dataset, an org) is not remembered: it masked that word on every line', (t) => {
  forgetSecrets();
  t.after(() => forgetSecrets());
  testConfig({
    OTEL_EXPORTER_OTLP_HEADERS:
      'x-honeycomb-team=abcdef0123456789,x-honeycomb-dataset=production,x-scope-orgid=default,authorization=Bearer',
  });
  assert.equal(
    redactSecrets('deploying to production, the default-queue; team abcdef0123456789'),
    'deploying to production, the default-queue; team [Redacted]',
  );
  // Under a name like a secret's, even a word is one.
  assert.equal(redactSecrets('sent Bearer auth'), 'sent [Redacted] auth');
});

test("SENTRY_DSN takes what the Sentry SDK takes, by the SDK's own parser, and refuses the rest naming the variable", async (t) => {
  t.after(() => forgetSecrets());
  const { makeDsn } = await import('@sentry/core');
  const taken = [
    'https://abc123@o1.ingest.sentry.io/1',
    'http://key_1@127.0.0.1:9000/42',
    'https://key:secret@sentry.example/path/to/7',
    'https://key@[::1]:8000/3',
    'http://public@sentry.example:65535/123',
  ];
  // Each passed the old check and the SDK refused it: the service ran with "sentry error
  // reports on" and sent nothing (a review helper's drill).
  const refused = [
    'https://abc-def-123456@o1.ingest.sentry.io/1',
    'https://key@sentry.example:70000/1',
    'https://key@[::1/1',
    'https://k%22y@sentry.example/1',
    'https://kéy@sentry.example/1',
    'https://:KEY@sentry.example/1',
    'https://key@sentry.example/not-a-project',
  ];
  // The SDK logs what it refuses to the console: not in this test's output.
  const error = console.error;
  console.error = () => undefined;
  try {
    for (const dsn of taken) {
      assert.equal(testConfig({ SENTRY_DSN: dsn }).telemetry.sentry.dsn, dsn);
      assert.notEqual(makeDsn(dsn), undefined, `the SDK takes ${dsn}`);
    }
    for (const dsn of refused) {
      assert.throws(
        () => testConfig({ SENTRY_DSN: dsn }),
        (e: Error) =>
          e instanceof ConfigError &&
          /telemetry\.sentry\.dsn \(environment SENTRY_DSN\)/.test(e.message) &&
          !e.message.includes(dsn),
        dsn,
      );
      const port = /:(\d+)\//.exec(dsn)?.[1];
      const sdk = makeDsn(dsn);
      // The SDK's parser takes a port past 65535; its transport's URL does not.
      if (port === undefined) assert.equal(sdk, undefined, `the SDK refuses ${dsn}`);
      else assert.throws(() => new URL(dsn), `no URL: ${dsn}`);
    }
  } finally {
    console.error = error;
  }
});
