import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { z } from 'zod';
import {
  fixtureConfigSchema,
  fixtureDefaultsFile,
  fixtureEnv,
} from '../fixtures/service/config.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { ConfigError } from '../../src/lib/primitives/errors.js';
import { booleanFlag, flagEnv, flagsSchema, readFlags, variantFlag } from '../../src/lib/flags.js';

function loadApp(source: Record<string, string> = {}) {
  return loadConfig({
    schema: fixtureConfigSchema,
    env: fixtureEnv,
    defaultsFile: fixtureDefaultsFile,
    source,
  });
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

const dir = mkdtempSync(join(tmpdir(), 'flags-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A variant flag and a boolean flag, from a defaults file of their own. */
const demoSchema = z.object({
  flags: flagsSchema({
    mode: variantFlag(['fast', 'careful'], 'how to work'),
    audit: booleanFlag('log every decision'),
  }),
});
function loadDemo(defaults: unknown, source: Record<string, string> = {}) {
  const file = join(dir, `defaults-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(defaults));
  return loadConfig({
    schema: demoSchema,
    env: flagEnv(['mode', 'audit']),
    defaultsFile: file,
    source,
  });
}

describe('feature flags', () => {
  test("defaults come from the app's defaults file: the fixture's notifier is off", () => {
    const flags = readFlags(loadApp());
    assert.equal(flags.isEnabled('fixtureNotify'), false);
    assert.deepEqual(flags.toJSON(), { fixtureNotify: false });
  });

  test('FLAG_<NAME> overrides a default', () => {
    const config = loadApp({
      FLAG_FIXTURE_NOTIFY: 'on',
      FIXTURE_NOTIFY_URL: 'http://127.0.0.1:9/x',
    });
    assert.equal(readFlags(config).isEnabled('fixtureNotify'), true);
  });

  test('an invalid value is a ConfigError naming the flag, its variable and the expected form', () => {
    const error = configError(() => loadApp({ FLAG_FIXTURE_NOTIFY: 'maybe' }));
    assert.match(
      error.message,
      /flags\.fixtureNotify \(environment FLAG_FIXTURE_NOTIFY\) = "maybe"/,
    );
    assert.match(error.message, /expected true or false/);
  });

  test('the guarded behaviour needs its setting: the flag on without a URL is a ConfigError', () => {
    const error = configError(() => loadApp({ FLAG_FIXTURE_NOTIFY: 'true' }));
    assert.match(error.message, /fixture\.notifyUrl .*must be set when flags\.fixtureNotify is on/);
  });

  test('variant flags read their variant, and reject one not declared', () => {
    const config = loadDemo({ flags: { mode: 'fast', audit: false } }, { FLAG_MODE: 'careful' });
    const flags = readFlags(config);
    assert.equal(flags.variant('mode'), 'careful');
    assert.equal(flags.isEnabled('audit'), false);
    const error = configError(() =>
      loadDemo({ flags: { mode: 'fast', audit: false } }, { FLAG_MODE: 'reckless' }),
    );
    assert.match(error.message, /flags\.mode \(environment FLAG_MODE\) = "reckless"/);
    assert.match(error.message, /one of fast, careful/);
  });

  test('a flag in the config that the code does not declare is rejected', () => {
    const error = configError(() => loadDemo({ flags: { mode: 'fast', audit: true, typo: 1 } }));
    assert.match(error.message, /flags/);
    assert.match(error.message, /typo/);
  });

  test('flag variables are FLAG_ plus the name in upper snake case', () => {
    assert.deepEqual(flagEnv(['fixtureNotify', 'mode']), {
      FLAG_FIXTURE_NOTIFY: 'flags.fixtureNotify',
      FLAG_MODE: 'flags.mode',
    });
  });
});
