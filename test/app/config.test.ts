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
