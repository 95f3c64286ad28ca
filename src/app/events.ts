import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { PermanentError } from '../lib/errors.js';

/** The sample's event and result types, and its handler: input in, output out. */

export interface SampleEvent {
  id: string;
  createdAt: string;
  text: string;
}

export interface SampleResult {
  eventId: string;
  /** sha256 of the event text, hex. */
  digest: string;
  words: number;
  processedAt: string;
  processedBy: string;
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
 * The work: a digest and a word count, after `workMs` of simulated I/O. The work always
 * finishes once started; shutdown waits for it rather than cutting it short.
 */
export async function processEvent(
  event: SampleEvent,
  workMs: number,
  worker: string,
): Promise<SampleResult> {
  if (workMs > 0) await delay(workMs);
  return {
    eventId: event.id,
    digest: createHash('sha256').update(event.text).digest('hex'),
    words: event.text.split(/\s+/).filter(Boolean).length,
    processedAt: new Date().toISOString(),
    processedBy: worker,
  };
}
