import type { QueueConsumer } from './consumer.js';

/**
 * The quarantine's run-alone gate. A redelivered input message is a suspect: the process may
 * have died of it. The main consumer moves it to the quarantine queue (a quorum queue with the
 * same delivery limit), whose consumer takes one message at a time (prefetch 1) and runs it
 * through this gate: `enter()` pauses the main consumer and waits until nothing of it is
 * unacked; `leave()` resumes it once no suspect is inside.
 * So when a suspect kills the process, the broker charges that one message a delivery, and no
 * innocent message in the main prefetch window pays for it.
 */
export class QuarantineGate {
  readonly #main: QueueConsumer;
  /** Suspects between `enter()` and `leave()`: the next may enter before the last has left. */
  #inside = 0;

  constructor(options: { main: QueueConsumer }) {
    this.#main = options.main;
  }

  /** Resolves once the main consumer is paused with nothing unacked. Never rejects. */
  enter(): Promise<void> {
    this.#inside++;
    return this.#main.pause();
  }

  /**
   * Resumes the main consumer unless a suspect has entered meanwhile: the broker delivers the
   * next suspect as soon as it has this one's ack, and it may enter first. Pauses and resumes
   * run in the order asked (`QueueConsumer.pause()`), so a resume asked here before the next
   * suspect's pause is undone by it. Not "unless the quarantine has more ready": with two
   * replicas, another replica's quarantine consumer may take them, and this one's main
   * consumer stayed paused for good while its readiness read ok. Never rejects.
   */
  async leave(): Promise<void> {
    this.#inside--;
    if (this.#inside === 0) await this.#main.resume();
  }
}
