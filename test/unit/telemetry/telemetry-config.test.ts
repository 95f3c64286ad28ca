import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/lib/primitives/errors.js';
import { isTracingOn } from '../../../src/lib/telemetry/switches.js';
import { samplerRatio } from '../../../src/lib/telemetry/telemetry-config.js';
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
