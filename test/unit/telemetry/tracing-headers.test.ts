import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { startTracing } from '../../../src/lib/telemetry/tracing.js';
import { OtlpRecorder } from '../../helpers/otlp-recorder.js';
import { captureLog } from '../../helpers/capture-log.js';
import { testConfig } from '../../helpers/core.js';

/**
 * The OTLP headers reach the collector from the config, the `_FILE` form too, which the
 * exporter (reading the environment itself) never saw: a hosted collector's API key mounted as
 * a Kubernetes secret was silently not sent. The real exporter, a loopback receiver.
 */

test('OTEL_EXPORTER_OTLP_HEADERS_FILE: the exporter sends its headers, the traces-only ones winning by name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'otlp-headers-'));
  const recorder = new OtlpRecorder();
  t.after(async () => {
    await recorder.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = await recorder.start();
  const file = join(dir, 'headers');
  writeFileSync(file, 'api-key=hdr_FromFile42,x-team=blue\n');
  const { telemetry } = testConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_HEADERS_FILE: file,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=green',
  });
  const tracing = startTracing({
    tracing: telemetry.tracing,
    app: 'headers-test',
    version: 'v1',
    environment: 'test',
    thread: 'main',
    log: captureLog().log,
  });
  trace.getTracer('test').startSpan('one').end();
  await tracing.close(5000);
  await recorder.waitForSpans((spans) => spans.some((s) => s.name === 'one'));
  const request = recorder.requests.find((r) => r.url.pathname === '/v1/traces');
  assert.equal(request?.headers['api-key'], 'hdr_FromFile42');
  assert.equal(request?.headers['x-team'], 'green');
});
