import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  fixtureConfigSchema,
  fixtureDefaultsFile,
  fixtureEnv,
} from '../../fixtures/service/config.js';
import { loadConfig } from '../../../src/lib/primitives/config.js';
import { ConfigError } from '../../../src/lib/primitives/errors.js';
import { policyEnv, resolvePolicy } from '../../../src/lib/resilience/policy-config.js';

/** An app's config with one policy of its own (the fixture service's `fixtureHttp`). */
function load(source: Record<string, string> = {}, file: string | URL = fixtureDefaultsFile) {
  return loadConfig({ schema: fixtureConfigSchema, env: fixtureEnv, defaultsFile: file, source });
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

const dir = mkdtempSync(join(tmpdir(), 'policy-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('policy configuration', () => {
  test('a named policy is its overrides on top of the defaults', () => {
    const { policies } = load();
    const http = resolvePolicy(policies, 'fixtureHttp');
    assert.equal(http.maxAttempts, 4);
    assert.equal(http.timeoutMs, 2000);
    assert.equal(http.baseDelayMs, policies.default.baseDelayMs);
    assert.deepEqual(resolvePolicy(policies, 'undeclared'), policies.default);
  });

  test('POLICY_<NAME>_<FIELD> overrides one field of one policy', () => {
    const { policies } = load({
      POLICY_FIXTURE_HTTP_TIMEOUT_MS: '1500',
      POLICY_DEFAULT_BASE_DELAY_MS: '50',
      POLICY_FIXTURE_HTTP_CRITICAL: 'true',
    });
    const http = resolvePolicy(policies, 'fixtureHttp');
    assert.equal(http.timeoutMs, 1500);
    assert.equal(http.baseDelayMs, 50, 'a default the policy does not override');
    assert.equal(http.critical, true);
    assert.equal(resolvePolicy(policies, 'default').timeoutMs, 5000);
  });

  test('a malformed value is a ConfigError naming the key and its variable', () => {
    const message = configError(() => load({ POLICY_FIXTURE_HTTP_TIMEOUT_MS: 'soon' }));
    assert.match(
      message,
      /policies\.fixtureHttp\.timeoutMs \(environment POLICY_FIXTURE_HTTP_TIMEOUT_MS\) = "soon"/,
    );
    assert.match(message, /expected an integer number of milliseconds, from 1 to 2147483647/);
    const jitter = configError(() => load({ POLICY_DEFAULT_JITTER: 'wild' }));
    assert.match(jitter, /policies\.default\.jitter .*one of none, full, half, decorrelated/);
  });

  test('a maximum delay below the base delay is rejected where it is effective', () => {
    const message = configError(() => load({ POLICY_DEFAULT_BASE_DELAY_MS: '20000' }));
    assert.match(message, /policies\.default\.maxDelayMs.*must be at least baseDelayMs \(20000\)/);
  });

  test('a critical breaker whose maxOpenMs is not above halfOpenAfterMs is rejected: it would die before any trial call', () => {
    const message = configError(() =>
      load({
        POLICY_FIXTURE_HTTP_CRITICAL: 'true',
        POLICY_FIXTURE_HTTP_BREAKER_THRESHOLD: '3',
        POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS: '30000',
        POLICY_FIXTURE_HTTP_MAX_OPEN_MS: '30000',
      }),
    );
    assert.match(
      message,
      /policies\.fixtureHttp\.maxOpenMs.*must be more than halfOpenAfterMs \+ timeoutMs \(30000 \+ 2000 = 32000\) for a critical breaker/,
    );
    // Not critical, or no breaker: only a warning's timing, allowed.
    load({ POLICY_FIXTURE_HTTP_CRITICAL: 'false', POLICY_FIXTURE_HTTP_MAX_OPEN_MS: '1' });
  });

  test('a critical breaker whose maxOpenMs does not leave a trial call its timeout after halfOpenAfterMs is rejected', () => {
    // The open clock runs until a trial closes the breaker; the first trial comes at
    // halfOpenAfterMs and may take timeoutMs: 30000 + 5000 left it no time to answer.
    const critical = {
      POLICY_FIXTURE_HTTP_CRITICAL: 'true',
      POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS: '30000',
      POLICY_FIXTURE_HTTP_TIMEOUT_MS: '5000',
    };
    const message = configError(() =>
      load({ ...critical, POLICY_FIXTURE_HTTP_MAX_OPEN_MS: '35000' }),
    );
    assert.match(
      message,
      /policies\.fixtureHttp\.maxOpenMs.*must be more than halfOpenAfterMs \+ timeoutMs \(30000 \+ 5000 = 35000\) for a critical breaker/,
    );
    const { policies } = load({ ...critical, POLICY_FIXTURE_HTTP_MAX_OPEN_MS: '35001' });
    assert.equal(resolvePolicy(policies, 'fixtureHttp').maxOpenMs, 35001);
  });

  test('a check between fields shows each value in force and where it came from (an inherited one is not missing), and names the variables to set', () => {
    // The user set these two; the error said 'policies.fixtureHttp.maxOpenMs (config/
    // defaults) = missing' and named neither.
    const message = configError(() =>
      load({
        POLICY_FIXTURE_HTTP_CRITICAL: 'true',
        POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS: '60000',
      }),
    );
    assert.doesNotMatch(message, /missing/);
    assert.match(
      message,
      /- policies\.fixtureHttp\.maxOpenMs \(inherited from policies\.default\.maxOpenMs, config\/ defaults\) = 60000: must be more than halfOpenAfterMs \+ timeoutMs \(60000 \+ 2000 = 62000\)/,
    );
    for (const setting of [
      'policies.fixtureHttp.halfOpenAfterMs (environment POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS) = "60000"',
      'policies.fixtureHttp.timeoutMs (config/ defaults) = 2000',
      'policies.fixtureHttp.critical (environment POLICY_FIXTURE_HTTP_CRITICAL) = "true"',
      'set one of POLICY_FIXTURE_HTTP_MAX_OPEN_MS, POLICY_DEFAULT_MAX_OPEN_MS, POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS, POLICY_FIXTURE_HTTP_TIMEOUT_MS, POLICY_FIXTURE_HTTP_CRITICAL',
    ]) {
      assert.ok(message.includes(setting), `${setting}\nin\n${message}`);
    }
    assert.doesNotMatch(message, /expected an integer/, 'each value has the right form');

    // Set for the defaults: the policy that inherits both says so, and names the variable.
    const delays = configError(() => load({ POLICY_DEFAULT_BASE_DELAY_MS: '20000' }));
    assert.doesNotMatch(delays, /missing/);
    for (const line of [
      '- policies.default.maxDelayMs (config/ defaults) = 10000: must be at least baseDelayMs (20000); with policies.default.baseDelayMs (environment POLICY_DEFAULT_BASE_DELAY_MS) = "20000"; set one of POLICY_DEFAULT_MAX_DELAY_MS, POLICY_DEFAULT_BASE_DELAY_MS',
      '- policies.fixtureHttp.maxDelayMs (inherited from policies.default.maxDelayMs, config/ defaults) = 10000: must be at least baseDelayMs (20000); with policies.fixtureHttp.baseDelayMs (inherited from policies.default.baseDelayMs, environment POLICY_DEFAULT_BASE_DELAY_MS) = "20000"; set one of POLICY_FIXTURE_HTTP_MAX_DELAY_MS, POLICY_DEFAULT_MAX_DELAY_MS, POLICY_FIXTURE_HTTP_BASE_DELAY_MS, POLICY_DEFAULT_BASE_DELAY_MS',
    ]) {
      assert.ok(delays.includes(line), `${line}\nin\n${delays}`);
    }
  });

  test('an unknown field in a policy (a typo) is rejected, naming the policy', () => {
    const defaults = JSON.parse(readFileSync(fixtureDefaultsFile, 'utf8')) as {
      policies: Record<string, Record<string, unknown>>;
    };
    defaults.policies['fixtureHttp'] = { timeoutMS: 100 };
    const file = join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify(defaults));
    const message = configError(() => load({}, file));
    assert.match(message, /policies\.fixtureHttp .*timeoutMS/);
  });

  test('the variables of a policy cover every field', () => {
    const env = policyEnv(['fixtureHttp']);
    assert.equal(
      env['POLICY_FIXTURE_HTTP_HALF_OPEN_AFTER_MS'],
      'policies.fixtureHttp.halfOpenAfterMs',
    );
    assert.equal(Object.keys(env).length, Object.keys(load().policies.default).length);
  });
});
