import type { SampleEvent } from './events.js';

/** The sample's thread-channel contracts. */

/** producer -> main: hand over an event; main answers once it has taken it. */
export interface IntakeContract {
  request: { event: SampleEvent };
  response: { accepted: true };
}

/**
 * main -> processor: process one event, given as its JSON text (the processor parses and
 * validates it: poison fails there as a PermanentError), with the message id it came with
 * and the 1-based delivery attempt. The answer is the result as JSON text, ready to publish:
 * text crosses a thread boundary far more cheaply than an object graph, and the main thread
 * never parses nor re-encodes.
 */
export interface ProcessContract {
  request: { json: string; messageId?: string; attempt?: number };
  response: { eventId: string; json: string };
}

/** main -> stats: latencies of the results processed since the last note (no answer). */
export interface StatsContract {
  request: { latenciesMs: number[] };
  response: void;
}
