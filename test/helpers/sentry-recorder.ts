import { HttpRecorder, type RecordedRequest, type RecorderMode } from './http-recorder.js';

/**
 * A loopback Sentry: records the envelopes the real @sentry/node client posts to
 * `http://key@127.0.0.1:PORT/1` and decodes their error events.
 */

export interface SentryEvent {
  event_id?: string;
  release?: string;
  environment?: string;
  server_name?: string;
  tags?: Record<string, string>;
  extra?: Record<string, unknown>;
  exception?: {
    values?: Array<{
      type?: string;
      value?: string;
      stacktrace?: { frames?: Array<{ filename?: string; function?: string; lineno?: number }> };
    }>;
  };
}

/** The items of one envelope: [item header, payload] pairs. */
export function decodeEnvelope(body: Buffer): Array<{ type: string; payload: unknown }> {
  const lines = body.toString('utf8').split('\n').filter(Boolean);
  const items: Array<{ type: string; payload: unknown }> = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    const header = JSON.parse(lines[i]!) as { type: string };
    items.push({ type: header.type, payload: JSON.parse(lines[i + 1]!) });
  }
  return items;
}

function eventsOf(request: RecordedRequest): SentryEvent[] {
  if (!request.url.pathname.endsWith('/envelope/')) return [];
  return decodeEnvelope(request.body)
    .filter((item) => item.type === 'event')
    .map((item) => item.payload as SentryEvent);
}

export class SentryRecorder extends HttpRecorder {
  constructor(mode: RecorderMode = 'ok') {
    super(mode);
  }

  /** The DSN pointing at this recorder (project 1). */
  get dsn(): string {
    return `http://publickey@127.0.0.1:${this.port}/1`;
  }

  /** Every error event received so far. */
  get events(): SentryEvent[] {
    return this.requests.flatMap(eventsOf);
  }

  /** Resolves when an event matching `match` has arrived. */
  waitForEvent(match: (e: SentryEvent) => boolean = () => true, timeoutMs = 10_000) {
    return this.waitFor((r) => eventsOf(r).some(match), timeoutMs);
  }
}
