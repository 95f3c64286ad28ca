import type { AmqpChannel, AmqpMessage } from './amqp-client.js';

/**
 * Acks in batches. Deliveries settle in any order; once per event-loop turn the settled run at
 * the front of the window (delivery order) is acked with one multiple-ack, and deliveries
 * settled behind one still in progress are acked singly, so a slow message never holds up the
 * prefetch window. Nacks go out at once. Fewer frames, less broker work per message; a crash
 * before the flush only means redeliveries (at-least-once either way).
 */

/** One delivery's place in the window. */
export interface AckSlot {
  readonly message: AmqpMessage;
  state: 'pending' | 'acked' | 'done';
}

export class AckWindow {
  readonly #channel: AmqpChannel;
  #slots: AckSlot[] = [];
  #scheduled = false;

  constructor(channel: AmqpChannel) {
    this.#channel = channel;
  }

  /** Takes a delivery in (deliveries arrive in delivery-tag order). */
  add(message: AmqpMessage): AckSlot {
    const slot: AckSlot = { message, state: 'pending' };
    this.#slots.push(slot);
    return slot;
  }

  /** Marks it done; the ack goes out with the next flush (this event-loop turn). */
  ack(slot: AckSlot): void {
    if (slot.state !== 'pending') return;
    slot.state = 'acked';
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Nacks it now, requeued or not. */
  nack(slot: AckSlot, requeue: boolean): void {
    if (slot.state !== 'pending') return;
    slot.state = 'done';
    this.#channel.nack(slot.message, requeue);
  }

  /** Sends the acks of everything settled so far. Idempotent. */
  flush(): void {
    this.#scheduled = false;
    let front = 0;
    let lastAcked: AckSlot | undefined;
    while (front < this.#slots.length && this.#slots[front]?.state !== 'pending') {
      const slot = this.#slots[front] as AckSlot;
      if (slot.state === 'acked') lastAcked = slot;
      front++;
    }
    if (lastAcked !== undefined) this.#channel.ack(lastAcked.message, true);
    const rest = this.#slots.slice(front);
    for (const slot of rest) {
      if (slot.state === 'acked') this.#channel.ack(slot.message);
    }
    this.#slots = rest.filter((slot) => slot.state === 'pending');
  }
}
