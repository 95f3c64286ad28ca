import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AckWindow, type AckSlot } from '../../../src/lib/amqp/ack-window.js';
import type { AmqpChannel, AmqpMessage } from '../../../src/lib/amqp/amqp-client.js';

/**
 * AckWindow against a model of the broker's side of a channel: the set of delivered,
 * unsettled delivery tags. The model refuses what RabbitMQ would refuse or get wrong: an ack
 * of a tag it does not hold (a double ack: 406 "unknown delivery tag"), an ack of a message the
 * application has not finished (an early ack: the message is lost if the process dies), and a
 * multiple-ack that covers such a message (an out-of-order ack).
 */

type Frame = { kind: 'ack'; tag: number; multiple: boolean } | { kind: 'nack'; tag: number };

class BrokerModel {
  readonly frames: Frame[] = [];
  readonly unacked = new Set<number>();
  /** Tags the application has finished (acked or nacked on its side). */
  readonly finished = new Set<number>();
  #next = 1;

  readonly channel = {
    ack: (message: AmqpMessage, upTo = false) => this.#ack(message.deliveryTag, upTo),
    nack: (message: AmqpMessage) => this.#nack(message.deliveryTag),
  } as unknown as AmqpChannel;

  deliver(): AmqpMessage {
    const tag = this.#next++;
    this.unacked.add(tag);
    return {
      body: Buffer.from(String(tag)),
      deliveryTag: tag,
      redelivered: false,
      exchange: '',
      routingKey: 'q',
      properties: { headers: {} },
    };
  }

  #ack(tag: number, multiple: boolean): void {
    this.frames.push({ kind: 'ack', tag, multiple });
    assert.ok(this.unacked.has(tag), `ack of tag ${tag}, which the broker does not hold`);
    const covered = multiple ? [...this.unacked].filter((t) => t <= tag) : [tag];
    for (const t of covered) {
      assert.ok(this.finished.has(t), `ack of tag ${tag} covers tag ${t}, still in progress`);
      this.unacked.delete(t);
    }
  }

  #nack(tag: number): void {
    this.frames.push({ kind: 'nack', tag });
    assert.ok(this.unacked.has(tag), `nack of tag ${tag}, which the broker does not hold`);
    assert.ok(this.finished.has(tag), `nack of tag ${tag} before the application settled it`);
    this.unacked.delete(tag);
  }
}

function setUp(n: number) {
  const broker = new BrokerModel();
  const window = new AckWindow(broker.channel);
  const slots = Array.from({ length: n }, () => window.add(broker.deliver()));
  const ack = (i: number): void => {
    const slot = slots[i] as AckSlot;
    broker.finished.add(slot.message.deliveryTag);
    window.ack(slot);
  };
  const nack = (i: number): void => {
    const slot = slots[i] as AckSlot;
    broker.finished.add(slot.message.deliveryTag);
    window.nack(slot, true);
  };
  return { broker, window, ack, nack };
}

/** A small deterministic generator, so a failing order can be reproduced from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('AckWindow', () => {
  test('settled messages behind one in progress are acked singly, never with a multiple-ack', async () => {
    const { broker, ack } = setUp(4);
    ack(1);
    ack(2);
    await nextTurn();
    assert.deepEqual(broker.frames, [
      { kind: 'ack', tag: 2, multiple: false },
      { kind: 'ack', tag: 3, multiple: false },
    ]);
    assert.deepEqual([...broker.unacked], [1, 4]);
  });

  test('the settled run at the front goes out as one multiple-ack of its last tag', async () => {
    const { broker, ack } = setUp(5);
    ack(2);
    ack(0);
    ack(1);
    await nextTurn();
    assert.deepEqual(broker.frames, [{ kind: 'ack', tag: 3, multiple: true }]);
    assert.deepEqual([...broker.unacked], [4, 5]);
  });

  test('nothing is acked before the application settles it, and nothing twice', async () => {
    const { broker, window, ack } = setUp(3);
    window.flush();
    await nextTurn();
    assert.deepEqual(broker.frames, [], 'no ack while everything is in progress');
    ack(0);
    ack(0);
    window.flush();
    window.flush();
    await nextTurn();
    assert.deepEqual(broker.frames, [{ kind: 'ack', tag: 1, multiple: true }]);
  });

  test('acks wait for the flush of the turn; a nack goes out at once', async () => {
    const { broker, ack, nack } = setUp(3);
    ack(0);
    assert.deepEqual(broker.frames, [], 'no ack within the same turn');
    nack(1);
    assert.deepEqual(broker.frames, [{ kind: 'nack', tag: 2 }]);
    await nextTurn();
    assert.deepEqual(broker.frames.at(-1), { kind: 'ack', tag: 1, multiple: true });
  });

  test('a nacked message at the front does not stop the run behind it', async () => {
    const { broker, ack, nack } = setUp(4);
    nack(0);
    ack(1);
    ack(2);
    await nextTurn();
    ack(3);
    await nextTurn();
    assert.equal(broker.unacked.size, 0);
  });

  test('any order of acks and nacks settles every delivery exactly once, none early', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const n = 1 + Math.floor(next() * 40);
      const { broker, window, ack, nack } = setUp(n);
      const order = Array.from({ length: n }, (_, i) => i).sort(() => next() - 0.5);
      for (const i of order) {
        if (next() < 0.15) nack(i);
        else ack(i);
        if (next() < 0.3) window.flush();
        if (next() < 0.2) await nextTurn();
      }
      await nextTurn();
      assert.equal(broker.unacked.size, 0, `seed ${seed}: every delivery settled at the broker`);
    }
  });
});
