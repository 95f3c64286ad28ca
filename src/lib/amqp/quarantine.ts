import type { AmqpChannel } from './amqp-client.js';
import type { QueueConsumer } from './consumer.js';

/**
 * The quarantine's run-alone gate. A redelivered input message is a suspect: the process may
 * have died of it. The main consumer moves it to the quarantine queue (a quorum queue with the
 * same delivery limit), whose consumer takes one message at a time (prefetch 1) and runs it
 * through this gate: `enter()` pauses the main consumer and waits until nothing of it is
 * unacked; `leave()` resumes it once the quarantine has nothing ready and no suspect inside.
 * So when a suspect kills the process, the broker charges that one message a delivery, and no
 * innocent message in the main prefetch window pays for it.
 */
export class QuarantineGate {
  readonly #main: QueueConsumer;
  readonly #channel: AmqpChannel;
  readonly #queue: string;
  /** Suspects between `enter()` and `leave()`: the next may enter before the last has left. */
  #inside = 0;

  constructor(options: { main: QueueConsumer; channel: AmqpChannel; queue: string }) {
    this.#main = options.main;
    this.#channel = options.channel;
    this.#queue = options.queue;
  }

  /** Resolves once the main consumer is paused with nothing unacked. Never rejects. */
  enter(): Promise<void> {
    this.#inside++;
    return this.#main.pause();
  }

  /**
   * Resumes the main consumer unless more suspects are waiting (they run first) or one has
   * entered meanwhile: the broker delivers the next suspect as soon as it has this one's ack,
   * and that delivery can enter before the quarantine queue's count comes back. Pauses and
   * resumes run in the order asked (`QueueConsumer.pause()`), so a resume asked here before
   * the next suspect's pause is undone by it. Rejects with a DependencyError when the broker
   * cannot be asked.
   */
  async leave(): Promise<void> {
    this.#inside--;
    const { messageCount } = await this.#channel.checkQueue(this.#queue);
    if (messageCount === 0 && this.#inside === 0) await this.#main.resume();
  }
}
