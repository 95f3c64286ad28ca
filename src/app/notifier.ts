import { HttpError, classify, type Logger, type ResiliencePolicy } from '../lib/index.js';
import type { SampleResult } from './events.js';

/**
 * The sample's outbound HTTP call: POSTs each result as JSON to `sample.notifyUrl`, through
 * the `sampleHttp` policy (timeout per attempt, retries with backoff, breaker, concurrency
 * limit). Guarded by the `sampleNotify` flag. Best effort: a failed notification is logged
 * and the event still counts as processed. The pattern a fork copies for its own API calls:
 * the call takes the policy's signal, and a non-2xx answer becomes an HttpError for
 * `classify()` to judge.
 */

export interface HttpNotifierOptions {
  url: string;
  policy: ResiliencePolicy;
  log: Logger;
  /**
   * The service's stop: a call it cuts short is logged at debug, whatever the stop's reason (a
   * failure's stop aborts with the failure, logged once where it happened).
   */
  stopping?: AbortSignal;
}

export class HttpNotifier {
  readonly #url: string;
  /** Where we post (its origin: no credentials, path or query), for messages. */
  readonly #target: string;
  readonly #policy: ResiliencePolicy;
  readonly #log: Logger;
  readonly #authorization: string | undefined;
  readonly #stopping: AbortSignal | undefined;

  constructor(options: HttpNotifierOptions) {
    const url = new URL(options.url);
    // Not its path either: a webhook's path is often its secret.
    this.#target = url.origin;
    // fetch() refuses a URL with credentials: they travel as a Basic authorization header.
    if (url.username !== '' || url.password !== '') {
      const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      this.#authorization = `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.#url = url.toString();
    this.#policy = options.policy;
    this.#log = options.log.child({ component: 'notifier' });
    this.#stopping = options.stopping;
  }

  /** Resolves when the result is delivered or given up on. Never rejects. */
  async notify(result: SampleResult, correlationId: string): Promise<void> {
    try {
      await this.#policy.execute((signal) => this.#post(result, correlationId, signal));
      this.#log.debug({ eventId: result.eventId }, 'notified');
    } catch (error) {
      // Transient failures are logged by the policy, once per spell; the rest here, but for
      // the calls a stop cut short: a failure's stop made each warn with the failure itself.
      const kind = classify(error);
      const quiet = kind === 'transient' || this.#stopping?.aborted === true;
      const level = quiet ? 'debug' : 'warn';
      this.#log[level]({ err: error, kind, eventId: result.eventId }, 'notification failed');
    }
  }

  async #post(result: SampleResult, correlationId: string, signal: AbortSignal): Promise<void> {
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-correlation-id': correlationId,
        ...(this.#authorization === undefined ? {} : { authorization: this.#authorization }),
      },
      body: JSON.stringify(result),
      signal,
    });
    // Read the body to the end either way: an unread body holds the connection.
    await response.arrayBuffer();
    if (!response.ok) throw new HttpError(response.status, `POST ${this.#target}`);
  }
}
