import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/lib/errors.js';
import { testConfig } from '../helpers/core.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    testConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the configuration to be rejected');
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
  assert.match(error.message, /expected an integer number of milliseconds, at least 100/);
});

test('every bad value is listed, not just the first', () => {
  const error = configError({ LOG_LEVEL: 'loud', HEARTBEAT_MS: '-5', FAULT: 'explode' });
  assert.match(error.message, /log\.level .*"loud".*expected one of fatal/);
  assert.match(error.message, /threads\.heartbeatMs .*"-5"/);
  assert.match(error.message, /fault .*"explode".*worker-exit:NAME/);
});

test('a cross-field rule names the key it is about', () => {
  const error = configError({ SHUTDOWN_ESCALATION_MS: '5000', SHUTDOWN_DEADLINE_MS: '4000' });
  assert.match(error.message, /shutdown\.deadlineMs .*must be greater than shutdown\.escalationMs/);
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
