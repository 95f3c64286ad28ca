import type { SampleEvent, SampleResult } from './events.js';

/** The sample's thread-channel contracts. */

/** producer -> main: hand over an event; main answers once it has taken it. */
export interface IntakeContract {
  request: { event: SampleEvent };
  response: { accepted: true };
}

/** main -> processor: process one event (attempt: 1-based delivery attempt, default 1). */
export interface ProcessContract {
  request: { event: SampleEvent; attempt?: number };
  response: SampleResult;
}

/** main -> stats: latencies of the results processed since the last note (no answer). */
export interface StatsContract {
  request: { latenciesMs: number[] };
  response: void;
}
