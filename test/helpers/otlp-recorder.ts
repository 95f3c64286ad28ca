import { HttpRecorder, type RecordedRequest, type RecorderMode } from './http-recorder.js';

/**
 * A loopback OTLP/HTTP receiver: records what the real OpenTelemetry exporter posts to
 * `/v1/traces` (OTLP JSON) and decodes the spans, each with its resource's thread and service.
 */

export interface RecordedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's enum: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
  service: unknown;
  thread: unknown;
}

interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}

function valueOf(value: Record<string, unknown>): unknown {
  return Object.values(value)[0];
}

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: KeyValue[];
        status?: { code?: number; message?: string };
      }>;
    }>;
  }>;
}

function spansOf(request: RecordedRequest): RecordedSpan[] {
  if (request.url.pathname !== '/v1/traces') return [];
  const body = JSON.parse(request.body.toString('utf8')) as ExportRequest;
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const resource = attributesOf(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        name: s.name,
        kind: s.kind,
        attributes: attributesOf(s.attributes),
        status: s.status ?? {},
        service: resource['service.name'],
        thread: resource['thread.name'],
      })),
    );
  });
}

export class OtlpRecorder extends HttpRecorder {
  constructor(mode: RecorderMode = 'ok') {
    super(mode);
  }

  /** Every span received so far. */
  get spans(): RecordedSpan[] {
    return this.requests.flatMap(spansOf);
  }

  /** Resolves when the spans received so far satisfy `done`. */
  waitForSpans(done: (spans: RecordedSpan[]) => boolean, timeoutMs = 15_000): Promise<void> {
    return this.waitFor(() => done(this.spans), timeoutMs);
  }
}
