import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/lib/primitives/errors.js';
import { isTracingOn } from '../../../src/lib/telemetry/switches.js';
import { testConfig } from '../../helpers/core.js';

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
