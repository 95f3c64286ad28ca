import { setTimeout as delay } from 'node:timers/promises';
import { PermanentError, TransientError } from '../lib/worker.js';
const { createHash, randomUUID } = process.getBuiltinModule('node:crypto');

/** The sample's event and result types, and its handler: input in, output out. */

export interface SampleEvent {
  id: string;
  createdAt?: string;
  text: string;
  /**
   * The fault hook, for tests and drills: `transient` fails with a TransientError while the
   * attempt is at most `times` (always when `times` is absent); `permanent` fails with a
   * PermanentError; `unexpected` throws a plain Error (a bug: reported, retried, then failed).
   */
  fail?: 'transient' | 'permanent' | 'unexpected';
  times?: number;
}

export interface SampleResult {
  eventId: string;
  /** sha256 of the event text, hex. */
  digest: string;
  words: number;
  processedAt: string;
  processedBy: string;
  /** The delivery attempt that produced it (1 unless retried). */
  attempt: number;
}

const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

export function makeEvent(sequence: number): SampleEvent {
  const text = Array.from(
    { length: 3 + (sequence % 5) },
    (_, i) => words[(sequence + i * 3) % words.length],
  ).join(' ');
  return { id: randomUUID(), createdAt: new Date().toISOString(), text };
}

/** Type guard for events arriving from outside (the thread channel, later a broker). */
export function assertEvent(value: unknown): asserts value is SampleEvent {
  const v = value as Partial<SampleEvent> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.id !== 'string' ||
    typeof v.text !== 'string'
  ) {
    throw new PermanentError('not a sample event: expected an object with string id and text');
  }
}

/**
 * Reads an event's JSON text (a broker message body) as a sample event. Any JSON object is an event: `id` and `text`
 * are taken when they are strings (else the message id, and the JSON text), `fail`/`times`
 * when valid. Throws a PermanentError (poison) for a body that is not JSON, not an object,
 * nested deeper than `maxNestingDepth`, or that cannot be read otherwise.
 */
export function parseEvent(json: string, messageId: string | undefined): SampleEvent {
  const depth = nestingDepth(json);
  if (depth > maxNestingDepth) {
    throw new PermanentError(
      `message body is JSON nested deeper than ${maxNestingDepth} levels (${depth})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    // Not the SyntaxError as the cause: its message quotes the body ('Unexpected token 'h',
    // "hunter2-su"... is not valid JSON', a short body whole), and log lines add a cause's
    // message to the error's. Where it broke is enough.
    const at = /at position (\d+)/.exec((error as Error).message)?.[1];
    throw new PermanentError(
      at === undefined
        ? 'message body is not valid JSON'
        : `message body is not valid JSON (at position ${at})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PermanentError(
      `message body is JSON but not an object (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`,
    );
  }
  const v = value as Record<string, unknown>;
  if (typeof v['id'] === 'string' && v['id'].length > maxIdLength) {
    throw new PermanentError(
      `event id is longer than ${maxIdLength} characters (${v['id'].length})`,
    );
  }
  const event: SampleEvent = {
    id: typeof v['id'] === 'string' ? v['id'] : (messageId ?? randomUUID()),
    text: typeof v['text'] === 'string' ? v['text'] : textOf(v),
  };
  if (typeof v['createdAt'] === 'string') event.createdAt = v['createdAt'];
  if (v['fail'] === 'transient' || v['fail'] === 'permanent' || v['fail'] === 'unexpected') {
    event.fail = v['fail'];
  }
  if (typeof v['times'] === 'number') event.times = v['times'];
  return event;
}

/**
 * The longest event id: it goes into every result (each one held by ZeroMQ for a slow
 * subscriber, up to its high-water mark of 1,000 messages) and every log line of the event.
 * Measured with ids of 900 KB and a stopped subscriber: RSS 1.35 GB.
 */
export const maxIdLength = 256;

/** The deepest nesting of arrays and objects an event may have. */
export const maxNestingDepth = 256;

/**
 * How deep the arrays and objects of a JSON text nest (brackets inside strings do not count),
 * read before parsing: a body nested thousands deep parses (V8's parser does not recurse), but
 * what is done with the result afterwards may overflow the stack. Invalid JSON gives some
 * number; the parser rejects it next.
 */
function nestingDepth(json: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * The JSON text of a parsed body. Whatever stops it (the stack, memory) makes the body poison
 * at once: bad input, not a bug to retry and report.
 */
function textOf(value: Record<string, unknown>): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new PermanentError('message body cannot be read as an event', { cause: error });
  }
}

/** Throws the failure the event's fault hook asks for, if any, on attempt `attempt`. */
export function applyFaultHook(event: SampleEvent, attempt: number): void {
  if (event.fail === 'permanent') {
    throw new PermanentError(`event ${event.id} asks for a permanent failure (fault hook)`);
  }
  if (event.fail === 'unexpected') {
    throw new Error(`event ${event.id} asks for an unexpected failure (fault hook)`);
  }
  if (event.fail === 'transient' && attempt <= (event.times ?? Number.POSITIVE_INFINITY)) {
    throw new TransientError(
      `event ${event.id} asks for a transient failure on attempt ${attempt} (fault hook)`,
    );
  }
}

/**
 * The work: a digest and a word count, after `workMs` of simulated I/O. The work always
 * finishes once started; shutdown waits for it rather than cutting it short.
 */
export async function processEvent(
  event: SampleEvent,
  workMs: number,
  worker: string,
  attempt = 1,
): Promise<SampleResult> {
  if (workMs > 0) await delay(workMs);
  return {
    eventId: event.id,
    digest: createHash('sha256').update(event.text).digest('hex'),
    words: event.text.split(/\s+/).filter(Boolean).length,
    processedAt: new Date().toISOString(),
    processedBy: worker,
    attempt,
  };
}
