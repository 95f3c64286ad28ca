import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../../src/lib/primitives/errors.js';
import { loadConfig } from '../../../src/lib/primitives/config.js';
import { flag, secret } from '../../../src/lib/primitives/config-fields.js';
import { testConfig } from '../../helpers/core.js';
import { forgetSecrets, redactSecrets } from '../../../src/lib/primitives/secrets.js';

/** The ConfigError `load` throws; fails the test if it throws none or another. */
function rejected(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the configuration to be rejected');
}

function configError(env: Record<string, string>): ConfigError {
  return rejected(() => testConfig(env));
}

test('the defaults load, validated and frozen', () => {
  const config = testConfig();
  assert.equal(config.shutdown.escalationMs, 30_000);
  assert.equal(config.shutdown.deadlineMs, 40_000);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.shutdown));
});

test('environment variables override the defaults, numbers and all', () => {
  const config = testConfig({
    SHUTDOWN_DEADLINE_MS: '50000',
    LOG_LEVEL: 'debug',
    APP_NAME: 'billing',
  });
  assert.equal(config.shutdown.deadlineMs, 50_000);
  assert.equal(config.log.level, 'debug');
  assert.equal(config.app.name, 'billing');
});

test('a bad value names the key, the variable, the problem and the expected form', () => {
  const error = configError({ SHUTDOWN_DEADLINE_MS: 'soon' });
  assert.match(error.message, /shutdown\.deadlineMs/);
  assert.match(error.message, /SHUTDOWN_DEADLINE_MS/);
  assert.match(error.message, /"soon"/);
  assert.match(error.message, /expected an integer number of milliseconds, from 100 to 2147483647/);
});

test("a port variable that Kubernetes' service links set (a Service named health: HEALTH_PORT=tcp://IP:PORT) says so", () => {
  const error = configError({ HEALTH_PORT: 'tcp://10.96.0.12:8080' });
  assert.match(
    error.message,
    /telemetry\.health\.port \(environment HEALTH_PORT\) = "tcp:\/\/10\.96\.0\.12:8080": .*\(this is how Kubernetes' service links name a Service called health: rename that Service, or set enableServiceLinks: false in the pod spec\)/,
  );
  // Any other bad port gets no such hint.
  assert.doesNotMatch(configError({ HEALTH_PORT: 'eighty' }).message, /Kubernetes/);
});

test('every bad value is listed, not just the first', () => {
  const error = configError({ LOG_LEVEL: 'loud', HEARTBEAT_MS: '-5', FAULT: 'explode' });
  assert.match(error.message, /log\.level .*"loud".*expected one of fatal/);
  assert.match(error.message, /threads\.heartbeatMs .*"-5"/);
  assert.match(error.message, /fault .*"explode".*worker-exit:NAME/);
});

test('a bad element of a list a variable sets names that variable and shows its value', () => {
  // It named the defaults and showed one character of the variable's text ("0").
  const error = configError({ AMQP_RETRY_DELAYS_MS: '1000,4294967296' });
  assert.match(
    error.message,
    /amqp\.retryDelaysMs\.1 \(environment AMQP_RETRY_DELAYS_MS\) = "1000,4294967296": Too big/,
  );
});

test('AMQP_MESSAGE_TIMEOUT_MS is 0 (off) or at least 1 s', () => {
  assert.match(
    configError({ AMQP_MESSAGE_TIMEOUT_MS: '500' }).message,
    /amqp\.messageTimeoutMs .*is 0 \(off\) or at least 1000/,
  );
  assert.equal(testConfig({ AMQP_MESSAGE_TIMEOUT_MS: '0' }).amqp.messageTimeoutMs, 0);
});

test('AMQP_HEARTBEAT_S is never 0: heartbeats off would leave a service cut off from a silent broker looking alive', () => {
  assert.match(
    configError({ AMQP_HEARTBEAT_S: '0' }).message,
    /amqp\.heartbeatS \(environment AMQP_HEARTBEAT_S\) = "0": Too small.*never 0.*an integer from 1 to 600/,
  );
  assert.equal(testConfig({ AMQP_HEARTBEAT_S: '1' }).amqp.heartbeatS, 1);
});

test("an AMQP URL's heartbeat, which overrides AMQP_HEARTBEAT_S, is held to the same range, the password masked", () => {
  // amqplib reads the query's heartbeat with parseInt: 0.5 turned heartbeats off as 0 does.
  for (const query of [
    'heartbeat=0',
    'heartbeat=0.5',
    'heartbeat=',
    'heartbeat=x',
    'heartbeat=601',
    'heartbeat=5&heartbeat=0',
  ]) {
    const error = configError({ AMQP_URL: `amqp://svc:pass-word@host/?${query}` });
    assert.match(
      error.message,
      /amqp\.url \(environment AMQP_URL\) = amqp:\/\/svc:\[Redacted\]@host\/\?heartbeat=.* \(secret\): has heartbeat=.* in its query, which is not one integer from 1 to 600/,
      query,
    );
    assert.ok(!error.message.includes('pass-word'), error.message);
  }
  for (const url of [
    'amqp://svc:pw@host/?heartbeat=10',
    'amqp://svc:pw@host/?heartbeat=600&frameMax=8192',
    'amqp://svc:pw@host/',
  ]) {
    assert.equal(testConfig({ AMQP_URL: url }).amqp.url, url);
  }
});

test('a cross-field rule names the key it is about', () => {
  const error = configError({ SHUTDOWN_ESCALATION_MS: '5000', SHUTDOWN_DEADLINE_MS: '4000' });
  assert.match(error.message, /shutdown\.deadlineMs .*must be greater than shutdown\.escalationMs/);
});

test('a duration past the longest timer (2^31 - 1 ms) is a config error naming the key, not a timer that fires at once', () => {
  // Node sets such a timer to 1 ms: SHUTDOWN_DEADLINE_MS=2147483648 made every TERM exit 124.
  assert.equal(
    testConfig({ SHUTDOWN_DEADLINE_MS: '2147483647' }).shutdown.deadlineMs,
    2_147_483_647,
  );
  for (const [variable, path] of [
    ['SHUTDOWN_DEADLINE_MS', 'shutdown.deadlineMs'],
    ['HEARTBEAT_MS', 'threads.heartbeatMs'],
    ['POLICY_DEFAULT_TIMEOUT_MS', 'policies.default.timeoutMs'],
  ] as const) {
    const error = configError({ [variable]: '2147483648' });
    assert.match(
      error.message,
      new RegExp(`${path.replaceAll('.', '\\.')} \\(environment ${variable}\\)`),
    );
    assert.match(error.message, /to 2147483647 \(about 24\.8 days, the longest timer\)/);
  }
});

test('STARTUP_TIMEOUT_MS is 0 (off) or at least 1 s, and a bad one is named', () => {
  assert.equal(testConfig({}).startup.timeoutMs, 120_000);
  assert.equal(testConfig({ STARTUP_TIMEOUT_MS: '0' }).startup.timeoutMs, 0);
  assert.equal(testConfig({ STARTUP_TIMEOUT_MS: '1000' }).startup.timeoutMs, 1000);
  assert.throws(
    () => testConfig({ STARTUP_TIMEOUT_MS: '999' }),
    /startup\.timeoutMs \(environment STARTUP_TIMEOUT_MS\).*must be 0 \(off\) or at least 1000/s,
  );
});

test('MAIN_STALL_LIMIT_MS is 0 (off) or at least 1 s and twice the heartbeat (main pulses every 250 ms)', () => {
  assert.equal(testConfig({ MAIN_STALL_LIMIT_MS: '0' }).threads.mainStallLimitMs, 0);
  const floor = { MAIN_STALL_LIMIT_MS: '1000', HEARTBEAT_MS: '500' };
  assert.equal(testConfig(floor).threads.mainStallLimitMs, 1000);
  const refused: Array<Record<string, string>> = [
    { MAIN_STALL_LIMIT_MS: '400', HEARTBEAT_MS: '100' },
    { MAIN_STALL_LIMIT_MS: '3000', HEARTBEAT_MS: '2000' },
  ];
  for (const env of refused) {
    assert.match(
      configError(env).message,
      /threads\.mainStallLimitMs .*must be 0 \(off\), or at least 1000 and at least twice threads\.heartbeatMs/,
    );
  }
});

test('a secret can come from the file that NAME_FILE names', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'app-name');
  writeFileSync(file, 'from-a-file\n');
  assert.equal(testConfig({ APP_NAME_FILE: file }).app.name, 'from-a-file');
  assert.match(configError({ APP_NAME_FILE: file, APP_NAME: 'x' }).message, /both set/);
  assert.match(configError({ APP_NAME_FILE: join(dir, 'missing') }).message, /cannot be read/);
});

test('a NAME_FILE that is no regular file (a FIFO, /dev/zero) or is over 1 MiB is refused at once, naming the variable', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A FIFO nobody writes to: reading it would block the start for ever.
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  assert.match(
    configError({ APP_NAME_FILE: fifo }).message,
    /APP_NAME_FILE names .*fifo, which is not a regular file/,
  );
  // An endless device: reading it would fill the memory.
  assert.match(configError({ APP_NAME_FILE: '/dev/zero' }).message, /not a regular file/);
  const big = join(dir, 'big');
  writeFileSync(big, 'x'.repeat(1024 * 1024 + 1));
  assert.match(
    configError({ APP_NAME_FILE: big }).message,
    /APP_NAME_FILE names .*big, which is larger than 1 MiB \(1048577 bytes\)/,
  );
});

/** Every odd character a password may hold: / @ " % a space, and non-ASCII letters. */
const oddSecret = 'Pa/ss@w"rd% 100 ünï';

test('trailing white space of a NAME_FILE value is dropped (blank lines, CR)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'amqp-url');
  writeFileSync(file, 'amqp://user:pw-from-file@broker/\r\n\n  \n');
  assert.equal(testConfig({ AMQP_URL_FILE: file }).amqp.url, 'amqp://user:pw-from-file@broker/');
});

test('a NAME_FILE that starts with a byte-order mark is read without it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'amqp-url');
  writeFileSync(file, '\uFEFFamqp://user:pw-from-file@broker/\r\n');
  assert.equal(testConfig({ AMQP_URL_FILE: file }).amqp.url, 'amqp://user:pw-from-file@broker/');
});

test('an empty NAME_FILE (a secret mount that arrived empty) is a config error, not an integration silently off', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const blank = join(dir, 'blank');
  writeFileSync(blank, '\n \r\n');
  for (const file of [empty, blank]) {
    const error = configError({ AMQP_URL_FILE: file });
    assert.equal(
      error.message,
      `AMQP_URL_FILE names ${file}, which is empty: unset AMQP_URL_FILE, or set AMQP_URL= to leave amqp.url empty`,
    );
  }
  // A switch's file may be emptied on purpose (the fault drill's, after its first run).
  assert.equal(testConfig({ FAULT_FILE: empty }).fault, '');
});

test("OpenTelemetry's variables set empty count as unset, as its specification says", () => {
  const config = testConfig({
    OTEL_TRACES_SAMPLER: '',
    OTEL_SDK_DISABLED: '',
    OTEL_EXPORTER_OTLP_PROTOCOL: '',
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
  });
  const defaults = testConfig();
  assert.deepEqual(config.telemetry.tracing, defaults.telemetry.tracing);
  // Any other variable set empty is still a value (an empty LOG_LEVEL is an error).
  assert.match(configError({ LOG_LEVEL: '' }).message, /log\.level \(environment LOG_LEVEL\) = ""/);
});

test('a defaults file that holds no JSON object (null, an array) is a config error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const schema = z.object({ a: z.object({ on: flag() }) });
  for (const [text, held] of [
    ['null', 'null'],
    ['[]', 'an array'],
    ['7', '7'],
  ] as const) {
    const defaults = join(dir, 'defaults.json');
    writeFileSync(defaults, text);
    assert.throws(
      () =>
        loadConfig({
          schema,
          env: { A_ON: 'a.on' },
          defaultsFile: defaults,
          source: { A_ON: 'true' },
        }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message === `the defaults file ${defaults} holds ${held}, not a JSON object`,
    );
  }
});

test('a config error never prints a secret whole: a URL shows its userinfo masked', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'amqp-url');
  // The raw password makes the URL invalid (a space): the error must still not show it.
  writeFileSync(file, `amqp://user:${oddSecret}@host/\n\n`);
  const error = configError({ AMQP_URL_FILE: file });
  assert.match(error.message, /amqp\.url \(environment AMQP_URL_FILE\) = \[Redacted\] \(secret\)/);
  for (const part of ['Pa/ss', 'ünï', '100'])
    assert.ok(!error.message.includes(part), error.message);
  const url = configError({
    AMQP_URL: `amqp://user:${encodeURIComponent(oddSecret)}@host/`,
    HEARTBEAT_MS: '-5',
    SENTRY_DSN: `https://${encodeURIComponent(oddSecret)}@sentry.example/not-a-project`,
    INFLUX_TOKEN: oddSecret,
    INFLUX_URL: 'http://influx:8086', // org and bucket missing: errors on influx
  });
  assert.match(
    url.message,
    /telemetry\.sentry\.dsn .* = https:\/\/\[Redacted\]@sentry\.example\/not-a-project \(secret\)/,
  );
  for (const part of ['Pa', 'ünï', '%C3', '100'])
    assert.ok(!url.message.includes(part), url.message);
});

test('a value from a NAME_FILE is a secret whatever its key', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'level');
  writeFileSync(file, `${oddSecret}\n`);
  const error = configError({ LOG_LEVEL_FILE: file });
  assert.match(
    error.message,
    /log\.level \(environment LOG_LEVEL_FILE\) = \[Redacted\] \(secret\)/,
  );
  assert.ok(!error.message.includes('ünï'), error.message);
});

test('an AMQP URL that does not parse (an unencoded / in the password) is a config error, masked', () => {
  const error = configError({ AMQP_URL: 'amqp://svc:pa/ss-word@host/' });
  assert.match(
    error.message,
    /amqp\.url \(environment AMQP_URL\) = amqp:\/\/svc:\[Redacted\]@host\/ \(secret\): is not a URL: percent-encode/,
  );
  assert.ok(!error.message.includes('ss-word'), error.message);
});

test('a URL that parses as another host (digits, then / ? or # in the password) is a config error, masked', () => {
  for (const [variable, url] of [
    ['AMQP_URL', 'amqp://svc:12/34-word@host/'],
    ['AMQP_URL', 'amqp://svc:12?34-word@host/'],
    ['AMQP_URL', 'amqp://svc:12#34-word@host/'],
    ['AMQP_URL', 'amqp://svc:pass-word@host/#vhost'],
    ['INFLUX_URL', 'http://svc:12/34-word@influx:8086'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'https://svc:12?34-word@collector:4318'],
  ] as const) {
    const error = configError({ [variable]: url });
    assert.match(
      error.message,
      new RegExp(`\\(environment ${variable}\\) = .* \\(secret\\): has an @ or # after its host`),
      url,
    );
    assert.ok(
      !error.message.includes('34-word') && !error.message.includes('pass-word'),
      error.message,
    );
  }
  // The same URLs percent-encoded, and an @ in the vhost as %40, are accepted.
  for (const url of [
    'amqp://svc:12%2F34-word@host/',
    'amqp://svc:12%3F34-word@host/',
    'amqp://svc:12%2334-word@host/',
    'amqp://svc:pass-word@host/v%40host',
  ]) {
    assert.equal(testConfig({ AMQP_URL: url }).amqp.url, url);
  }
  assert.match(
    configError({ INFLUX_URL: 'ftp://influx:8086' }).message,
    /INFLUX_URL\) = ftp:\/\/influx:8086 \(secret\): is not a http:\/\/ or https:\/\/ URL/,
  );
  assert.match(configError({ AMQP_URL: 'amqp://svc:pw@host/ x' }).message, /: has white space/);
});

test('a % in a URL password that starts no percent-encoding is a config error, masked (it threw URIError at start: exit 70)', () => {
  for (const [variable, url] of [
    ['AMQP_URL', 'amqp://svc:100%sure-word@host/'],
    ['INFLUX_URL', 'http://svc:pass%-word@influx:8086'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'https://to%ken-word@collector:4318'],
  ] as const) {
    const error = configError({ [variable]: url });
    assert.match(
      error.message,
      new RegExp(
        `\\(environment ${variable}\\) = .* \\(secret\\): has a % in its user name or password`,
      ),
      url,
    );
    assert.ok(!error.message.includes('-word'), error.message);
  }
  assert.equal(
    testConfig({ AMQP_URL: 'amqp://svc:100%25sure@host/' }).amqp.url,
    'amqp://svc:100%25sure@host/',
  );
});

test('a leaf marked notSecret() shows its NAME_FILE value: the fault drill switch', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fault');
  writeFileSync(file, 'worker-explode:processor\n');
  const error = configError({ FAULT_FILE: file });
  assert.match(error.message, /fault \(environment FAULT_FILE\) = "worker-explode:processor"/);
});

test('APP_NAME_FILE and APP_ENV_FILE are no secrets: the app name on every line stays readable', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  t.after(() => forgetSecrets());
  writeFileSync(join(dir, 'name'), 'billing-worker\n');
  writeFileSync(join(dir, 'env'), 'production-eu\n');
  const config = testConfig({
    APP_NAME_FILE: join(dir, 'name'),
    APP_ENV_FILE: join(dir, 'env'),
  });
  assert.equal(config.app.name, 'billing-worker');
  // Remembered as secrets, both became [Redacted] on every log line.
  assert.equal(
    redactSecrets('{"app":"billing-worker","env":"production-eu"}'),
    '{"app":"billing-worker","env":"production-eu"}',
  );
});

test("a plain word from a non-secret key's NAME_FILE (a bucket, an org) is not masked on every line", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  t.after(() => forgetSecrets());
  writeFileSync(join(dir, 'bucket'), 'metrics\n');
  writeFileSync(join(dir, 'token'), 'tokenvalue\n');
  const config = testConfig({
    INFLUX_URL: 'http://127.0.0.1:8086',
    INFLUX_ORG: 'o',
    INFLUX_BUCKET_FILE: join(dir, 'bucket'),
    INFLUX_TOKEN_FILE: join(dir, 'token'),
  });
  assert.equal(config.telemetry.influx.bucket, 'metrics');
  // Remembered before validation, it was [Redacted] on every metrics line (a review helper's
  // drill: "component":"[Redacted]"); a plain word under a key named like a secret still is.
  assert.equal(
    redactSecrets('{"component":"metrics","token":"tokenvalue"}'),
    '{"component":"metrics","token":"[Redacted]"}',
  );
});

test('a NAME_FILE whose size says nothing of its end (procfs: 0, and endless) is read to 1 MiB and refused', () => {
  // Read in one call to its end: 2.2 GB in 7 s, deaf to TERM (a review helper's drill).
  assert.match(
    configError({ APP_NAME_FILE: '/proc/self/pagemap' }).message,
    /APP_NAME_FILE names \/proc\/self\/pagemap, which is larger than 1 MiB/,
  );
});

test('the readiness delay must end before the escalation: valid alone, refused beside it', () => {
  // At the deadline or past it every TERM ended in 124, a restart instead of a stop.
  for (const delay of ['30000', '45000']) {
    const error = configError({ SHUTDOWN_READINESS_DELAY_MS: delay });
    assert.match(
      error.message,
      new RegExp(
        `telemetry\\.health\\.readinessDelayMs \\(environment SHUTDOWN_READINESS_DELAY_MS\\) = "${delay}": must be less than shutdown\\.escalationMs \\(30000\\)`,
      ),
    );
    // The other setting, where it came from, and the variables to set.
    assert.match(
      error.message,
      /; with shutdown\.escalationMs \(config\/ defaults\) = 30000; set one of SHUTDOWN_READINESS_DELAY_MS, SHUTDOWN_ESCALATION_MS$/,
    );
  }
  assert.equal(
    testConfig({ SHUTDOWN_READINESS_DELAY_MS: '29999' }).telemetry.health.readinessDelayMs,
    29_999,
  );
  const raised = testConfig({
    SHUTDOWN_READINESS_DELAY_MS: '45000',
    SHUTDOWN_ESCALATION_MS: '60000',
    SHUTDOWN_DEADLINE_MS: '70000',
  });
  assert.equal(raised.telemetry.health.readinessDelayMs, 45_000);
  // The checks between sections run once each is valid alone: one line, the bad value's.
  const both = configError({ SHUTDOWN_READINESS_DELAY_MS: '30000', LOG_LEVEL: 'loud' });
  assert.equal(both.message.split('\n').length, 2, both.message);
  assert.match(both.message, /log\.level/);
});

test("CRONITOR_TIMEOUT_MS must leave the stop's other steps as long as its flush: refused past that, naming both keys", () => {
  // 20000 against a 6000 ms deadline: the flush kept its 20.6 s free from the start, every
  // step before it got 1 ms, and every stop ended 124 (a review helper's drill).
  const tight = {
    CRONITOR_API_KEY: 'key',
    SHUTDOWN_ESCALATION_MS: '5000',
    SHUTDOWN_DEADLINE_MS: '6000',
  };
  for (const timeout of ['1901', '20000']) {
    assert.match(
      configError({ ...tight, CRONITOR_TIMEOUT_MS: timeout }).message,
      new RegExp(
        `telemetry\\.cronitor\\.timeoutMs \\(environment CRONITOR_TIMEOUT_MS\\) = "${timeout}": must be at most 1900 with shutdown\\.deadlineMs \\(SHUTDOWN_DEADLINE_MS\\) 6000: a stop keeps it \\+ 600 ms for its flush .* a stop ends 124`,
      ),
    );
  }
  assert.equal(
    testConfig({ ...tight, CRONITOR_TIMEOUT_MS: '1900' }).telemetry.cronitor.timeoutMs,
    1900,
  );
  // Off, cronitor takes none of the deadline; the defaults (5000 of 40000) are well inside.
  assert.equal(
    testConfig({ ...tight, CRONITOR_API_KEY: '', CRONITOR_TIMEOUT_MS: '20000' }).telemetry.cronitor
      .timeoutMs,
    20_000,
  );
  assert.equal(testConfig({ CRONITOR_API_KEY: 'key' }).telemetry.cronitor.timeoutMs, 5000);
  // A deadline too short for any timeout says the deadline this one needs.
  assert.match(
    configError({
      CRONITOR_API_KEY: 'key',
      SHUTDOWN_ESCALATION_MS: '1000',
      SHUTDOWN_DEADLINE_MS: '2000',
    }).message,
    /telemetry\.cronitor\.timeoutMs \(config\/ defaults\) = 5000: needs shutdown\.deadlineMs \(SHUTDOWN_DEADLINE_MS\) 2000 raised to at least 12200/,
  );
});

test("each telemetry flush bound that is on must leave the stop's other steps as long as the flush: Sentry, tracing and InfluxDB as cronitor", () => {
  // 20000 against a 6000 ms deadline: every step before the flush got 1 ms and TERM ended 124
  // (27 to 67 ms on the fixture service, one integration at a time).
  const tight = { SHUTDOWN_ESCALATION_MS: '5000', SHUTDOWN_DEADLINE_MS: '6000' };
  const cases = [
    ['SENTRY_FLUSH_TIMEOUT_MS', 'sentry', { SENTRY_DSN: 'https://k@o1.ingest.sentry.io/1' }],
    ['TRACING_FLUSH_TIMEOUT_MS', 'tracing', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }],
    [
      'INFLUX_FLUSH_TIMEOUT_MS',
      'influx',
      { INFLUX_URL: 'http://influx:8086', INFLUX_ORG: 'o', INFLUX_BUCKET: 'b' },
    ],
  ] as const;
  for (const [key, section, on] of cases) {
    assert.match(
      configError({ ...tight, ...on, [key]: '20000' }).message,
      new RegExp(
        `telemetry\\.${section}\\.flushTimeoutMs \\(environment ${key}\\) = "20000": must be at most 1900 with shutdown\\.deadlineMs \\(SHUTDOWN_DEADLINE_MS\\) 6000: a stop keeps it \\+ 600 ms for its flush`,
      ),
      key,
    );
    assert.doesNotThrow(() => testConfig({ ...tight, ...on, [key]: '1900' }), key);
    // Off, it takes none of the deadline.
    assert.doesNotThrow(() => testConfig({ ...tight, [key]: '20000' }), key);
  }
});

test('a cross-section issue names its key and variable, and masks a secret value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  try {
    const defaults = join(dir, 'defaults.json');
    writeFileSync(defaults, JSON.stringify({ a: { token: '' }, b: { on: false } }));
    const schema = z.object({
      a: z.object({ token: secret(z.string()) }),
      b: z.object({ on: flag() }),
    });
    const load = (source: Record<string, string>) =>
      loadConfig({
        schema,
        env: { A_TOKEN: 'a.token', B_ON: 'b.on' },
        defaultsFile: defaults,
        source,
        crossChecks: (c) =>
          c.b.on && c.a.token.length < 12
            ? [
                {
                  path: ['a', 'token'],
                  message: 'must be 12 characters or more when b.on is set',
                  settings: [{ key: ['..', 'b', 'on'] }],
                },
              ]
            : [],
      });
    assert.equal(load({ A_TOKEN: 'short-one', B_ON: 'false' }).a.token, 'short-one');
    assert.throws(
      () => load({ A_TOKEN: 'short-one', B_ON: 'true' }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          /a\.token \(environment A_TOKEN\) = \S+ \(secret\): must be 12/,
        );
        assert.match(
          error.message,
          /; with b\.on \(environment B_ON\) = "true"; set one of A_TOKEN, B_ON$/,
        );
        assert.doesNotMatch(error.message, /short-one/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('secret() holds through what comes after it (.describe(), .min(), .refine()), inside a record or a union, and the value is remembered', () => {
  // zod's methods return new schemas: a mark on the object alone was lost by
  // `secret(s).describe(...)`, and a record's values and a union's options were not looked
  // into: each printed the value whole in its config error, and never masked it in logs.
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  forgetSecrets();
  try {
    const defaults = join(dir, 'defaults.json');
    writeFileSync(defaults, JSON.stringify({ billing: { tokens: {} } }));
    const long = z.string().min(40);
    const schema = z.object({
      billing: z.object({
        described: secret(long).describe('the API key').optional(),
        refined: secret(z.string())
          .min(40)
          .refine(() => true)
          .optional(),
        tokens: z.record(z.string(), secret(long)),
        either: z.union([z.literal(''), secret(long)]).optional(),
      }),
    });
    const cases: Array<[string, string, string]> = [
      ['BILLING_DESCRIBED', 'billing.described', 'sk_live_Described42x'],
      ['BILLING_REFINED', 'billing.refined', 'sk_live_Refined42xyz'],
      ['BILLING_TOKEN_EU', 'billing.tokens.eu', 'sk_live_RecordEu42xy'],
      ['BILLING_EITHER', 'billing.either', 'sk_live_Union42xyzab'],
    ];
    for (const [name, path, value] of cases) {
      assert.throws(
        () =>
          loadConfig({
            schema,
            env: { [name]: path },
            defaultsFile: defaults,
            source: { [name]: value },
          }),
        (error: Error) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.match(
            error.message,
            new RegExp(`${path.replaceAll('.', '\\.')} \\(environment ${name}\\)`),
          );
          assert.doesNotMatch(error.message, new RegExp(value), `${path}: ${error.message}`);
          return true;
        },
      );
      assert.equal(redactSecrets(`sent ${value}`), 'sent [Redacted]', `${path} remembered`);
    }
  } finally {
    forgetSecrets();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an env map entry naming a key the schema does not have is a programming error, naming both (a fork's typo kept the default silently)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  try {
    const defaults = join(dir, 'defaults.json');
    writeFileSync(defaults, JSON.stringify({ greeter: { greeting: 'hello' } }));
    const schema = z.object({ greeter: z.object({ greeting: z.string() }) });
    const load = (env: Record<string, string>) =>
      loadConfig({ schema, env, defaultsFile: defaults, source: { GREETING: 'bonjour' } });
    assert.equal(load({ GREETING: 'greeter.greeting' }).greeter.greeting, 'bonjour');
    assert.throws(
      () => load({ GREETING: 'greeter.greting' }),
      /config env map: GREETING sets greeter\.greting, which the schema has no key for/,
    );
    // Unset variables too: the map is wrong whatever the environment holds.
    assert.throws(() => load({ FAREWELL: 'greeter.farewell' }), /FAREWELL sets greeter\.farewell/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A defaults file holding `defaults`, removed when the test process exits. */
function writeDefaults(defaults: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  const file = join(dir, 'defaults.json');
  writeFileSync(file, JSON.stringify(defaults));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return file;
}

/** Loads `schema` from `defaults` and `source`, each variable of `env` setting its path. */
function loadWith(
  schema: z.ZodType,
  defaults: object,
  env: Record<string, string>,
  source: Record<string, string>,
): unknown {
  return loadConfig({ schema, env, defaultsFile: writeDefaults(defaults), source });
}

test("an issue on an object (a fork's refinement with no path) shows its secret leaves masked and names the variables inside", () => {
  // It printed the object whole, the password of a URL a variable set included, and said the
  // value came from "config/ defaults".
  forgetSecrets();
  const schema = z.object({
    billing: z
      .object({
        url: secret(z.string()),
        region: z.string(),
        vault: secret(z.object({ key: z.string() })),
      })
      .refine((billing) => billing.region !== 'moon', { message: 'no billing on the moon' }),
  });
  const error = rejected(() =>
    loadWith(
      schema,
      { billing: { region: 'moon', vault: { key: 'vk_Defaults42xyz' } } },
      { BILLING_URL: 'billing.url', BILLING_REGION: 'billing.region' },
      { BILLING_URL: 'https://svc:pw_Billing42xyz@billing.example/', BILLING_REGION: 'moon' },
    ),
  );
  assert.match(
    error.message,
    /billing \(config\/ defaults and environment BILLING_URL, BILLING_REGION\) = \{"region":"moon","vault":"\[Redacted\]","url":"https:\/\/svc:\[Redacted\]@billing\.example\/"\}: no billing on the moon/,
  );
  for (const part of ['pw_Billing42xyz', 'vk_Defaults42xyz'])
    assert.ok(!error.message.includes(part), error.message);
  // The leaves of an object marked secret are remembered, as any secret leaf is.
  assert.equal(redactSecrets('key vk_Defaults42xyz'), 'key [Redacted]');
  // A refinement of the whole configuration: no value shown, every variable named.
  const whole = rejected(() =>
    loadWith(
      schema.refine(() => false, { message: 'never' }),
      { billing: { region: 'earth', vault: { key: 'k' } } },
      { BILLING_URL: 'billing.url' },
      { BILLING_URL: 'https://svc:pw_Billing42xyz@billing.example/' },
    ),
  );
  assert.match(
    whole.message,
    /- \(the configuration\) \(config\/ defaults and environment BILLING_URL\): never/,
  );
  forgetSecrets();
});

test('a list of secrets, split from one variable or marked element by element, is remembered and masked element by element', () => {
  // A list was a leaf: a secret split into several was remembered whole (its parts, printed
  // one by one, were not masked), and a list of secret() elements was not remembered at all.
  forgetSecrets();
  const split = (value: unknown) => (typeof value === 'string' ? value.split(',') : value);
  const schema = z.object({
    api: z.object({
      keys: secret(z.preprocess(split, z.array(z.string().min(12)))),
      peers: z.array(secret(z.string().min(12))),
    }),
  });
  const loaded = loadWith(
    schema,
    { api: { peers: ['peer_Key42xyzab'] } },
    { API_KEYS: 'api.keys' },
    { API_KEYS: 'key_One42xyzab,key_Two42xyzab' },
  );
  assert.deepEqual((loaded as { api: { keys: string[] } }).api.keys, [
    'key_One42xyzab',
    'key_Two42xyzab',
  ]);
  for (const value of ['key_One42xyzab', 'key_Two42xyzab', 'peer_Key42xyzab'])
    assert.equal(redactSecrets(`sent ${value}`), 'sent [Redacted]', value);
  forgetSecrets();
  // A bad element names its index, its value masked.
  const error = rejected(() =>
    loadWith(schema, { api: { keys: [], peers: ['peer_Key42xyzab', 'short_peer'] } }, {}, {}),
  );
  assert.match(error.message, /api\.peers\.1 \(config\/ defaults\) = \[Redacted\] \(secret\)/);
  assert.ok(!error.message.includes('short_peer'), error.message);
  forgetSecrets();
});

test("a fork's preprocess or refinement that throws is a config error naming where, its message left out (it may quote a secret)", () => {
  // It escaped loadConfig: an uncaught error (70) whose message quoted the value's start.
  const schema = z.object({
    billing: z.object({
      url: secret(
        z.preprocess((value) => {
          throw new TypeError(`cannot read ${String(value).slice(0, 20)}`);
        }, z.string()),
      ),
    }),
  });
  const error = rejected(() =>
    loadWith(
      schema,
      { billing: {} },
      { BILLING_URL: 'billing.url' },
      { BILLING_URL: 'https://svc:pw_Billing42xyz@x/' },
    ),
  );
  assert.match(
    error.message,
    /^the config schema threw TypeError at .*config\.test\.js:\d+:\d+\)? \(its message is left out/,
  );
  assert.ok(!error.message.includes('pw_Bill'), error.message);
  const cross = rejected(() =>
    loadConfig({
      schema: z.object({ a: z.string() }),
      env: {},
      defaultsFile: writeDefaults({ a: 'x' }),
      crossChecks: () => {
        throw new RangeError('boom');
      },
    }),
  );
  assert.match(cross.message, /^a config cross-check threw RangeError at /);
});
