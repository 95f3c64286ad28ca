import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { appConfigSchema, appEnv, defaultsFile } from '../../src/app/config.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { ConfigError } from '../../src/lib/primitives/errors.js';
import { readFlags } from '../../src/lib/index.js';

/** The sample app's own configuration: its flag, its `sample` section, its defaults. */

function loadApp(source: Record<string, string> = {}) {
  return loadConfig({ schema: appConfigSchema, env: appEnv, defaultsFile, source });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('the sample app config and its flag', () => {
  test('defaults come from config/default.json: the sample notifier is off', () => {
    const flags = readFlags(loadApp());
    assert.equal(flags.isEnabled('sampleNotify'), false);
    assert.deepEqual(flags.toJSON(), { sampleNotify: false });
  });

  test('FLAG_<NAME> overrides a default', () => {
    const config = loadApp({ FLAG_SAMPLE_NOTIFY: 'on', SAMPLE_HTTP_URL: 'http://127.0.0.1:9/x' });
    assert.equal(readFlags(config).isEnabled('sampleNotify'), true);
  });

  test('an invalid value is a ConfigError naming the flag, its variable and the expected form', () => {
    const error = configError(() => loadApp({ FLAG_SAMPLE_NOTIFY: 'maybe' }));
    assert.match(error.message, /flags\.sampleNotify \(environment FLAG_SAMPLE_NOTIFY\) = "maybe"/);
    assert.match(error.message, /expected true or false/);
  });

  test('the guarded behaviour needs its setting: the flag on without a URL is a ConfigError', () => {
    const error = configError(() => loadApp({ FLAG_SAMPLE_NOTIFY: 'true' }));
    assert.match(error.message, /sample\.notifyUrl .*must be set when flags\.sampleNotify is on/);
  });
});

describe('the stats schedule (cronSchedule)', () => {
  test('a cron schedule of five or six fields is taken; anything else is a ConfigError naming it', () => {
    for (const schedule of ['*/10 * * * * *', '0 3 * * mon-fri', '* * * * *']) {
      assert.equal(loadApp({ SAMPLE_STATS_SCHEDULE: schedule }).sample.statsSchedule, schedule);
    }
    // Before: taken by the config, thrown by the scheduler once the workers ran (exit 70).
    for (const schedule of ['bogus', '61 * * * *', '* * * *', '']) {
      const error = configError(() => loadApp({ SAMPLE_STATS_SCHEDULE: schedule }));
      assert.match(
        error.message,
        /sample\.statsSchedule \(environment SAMPLE_STATS_SCHEDULE\) = .*: not a cron schedule; expected a cron schedule, five fields or six/,
        schedule,
      );
    }
    // Validated by node-cron, but never come: its start() threw once the workers ran (70).
    for (const schedule of ['0 0 31W 2 *', '0 0 1 1 1#5', '0 0 0 1-7 * 1#5']) {
      const error = configError(() => loadApp({ SAMPLE_STATS_SCHEDULE: schedule }));
      assert.match(
        error.message,
        /sample\.statsSchedule \(environment SAMPLE_STATS_SCHEDULE\) = .*: a cron schedule that never comes \(no run within 100 years\)/,
        schedule,
      );
    }
  });
});

describe("the events' fault hooks (SAMPLE_FAULT_HOOKS)", () => {
  test('off by default; on only when asked; anything else is a ConfigError naming it', () => {
    assert.equal(loadApp().sample.faultHooks, false);
    assert.equal(loadApp({ SAMPLE_FAULT_HOOKS: 'true' }).sample.faultHooks, true);
    const error = configError(() => loadApp({ SAMPLE_FAULT_HOOKS: 'sometimes' }));
    assert.match(
      error.message,
      /sample\.faultHooks \(environment SAMPLE_FAULT_HOOKS\) = "sometimes".*expected true or false/,
    );
  });
});

describe('the ZeroMQ endpoint (zmqEndpoint)', () => {
  test('tcp with a port or *, ipc and inproc are taken', () => {
    for (const endpoint of [
      'tcp://127.0.0.1:5556',
      'tcp://127.0.0.1:*',
      'tcp://*:65535',
      'tcp://[::1]:5556',
      'tcp://eth0:5556',
      'ipc:///tmp/events.sock',
      'ipc://@abstract',
      `ipc:///tmp/${'a'.repeat(102)}`, // 107 bytes, the most a socket address holds
      'tcp://my-host.example_1:5556',
      'tcp://10.0.0.255:5556',
      'tcp://[::ffff:127.0.0.1]:5556',
      'tcp://br-1a2b:5556',
      'inproc://results',
    ]) {
      assert.equal(loadApp({ ZMQ_PUB_ENDPOINT: endpoint }).sample.publishEndpoint, endpoint);
    }
  });

  test('a port past 65535 (which ZeroMQ would take modulo 65536), no port, or another scheme is a ConfigError naming the variable', () => {
    for (const endpoint of [
      'tcp://127.0.0.1:99999',
      'tcp://127.0.0.1',
      'tcp://127.0.0.1:-1',
      'tcp://:5556',
      'tcp://127.0.0.1:55 56',
      'udp://127.0.0.1:5556',
      'ipc://',
      // Host characters no name, address or interface has: libzmq's bind said "Invalid
      // argument" and the service ended with 70.
      'tcp://%:5556',
      'tcp://a;127.0.0.1:5556',
      'tcp://host name:5556',
      // Longer than a socket address holds: "File name too long" at the bind.
      `ipc:///tmp/${'a'.repeat(103)}`,
      // Shaped like an address or a name and none: 69 at every start ("No such device",
      // "Cannot assign requested address"), naming no setting.
      'tcp://256.1.1.1:5556',
      'tcp://1.2.3:5556',
      'tcp://[1]:5556',
      'tcp://-:5556',
      'tcp://.:5556',
      'tcp://host.:5556',
      'tcp://-host:5556',
    ]) {
      const error = configError(() => loadApp({ ZMQ_PUB_ENDPOINT: endpoint }));
      assert.match(error.message, /sample\.publishEndpoint \(environment ZMQ_PUB_ENDPOINT\)/);
      assert.match(error.message, /expected a ZeroMQ endpoint: tcp:\/\/HOST:PORT/, endpoint);
    }
  });
});
