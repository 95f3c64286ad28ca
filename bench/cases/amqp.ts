import { ratioCase, type Cases } from '../case.js';
import { runAmqpBench } from '../amqp.js';

/**
 * The RabbitMQ pipeline against a bare amqplib loop (consume, publish the same result with a
 * confirm, ack; same prefetch), alternated in one run: see bench/amqp.ts.
 */
export async function amqpCases(runs: number, count: number): Promise<Cases> {
  const result = await runAmqpBench({ count, prefetch: 100, rounds: runs });
  const ratioOf = ratioCase(
    result.samples.map((s) => s.pipelineRate),
    result.samples.map((s) => s.bareRate),
    `${count} messages per run, prefetch ${result.prefetch}: the whole pipeline (consumer, ` +
      'processor thread, ZeroMQ, confirmed result, ack) in a child process against a bare ' +
      'amqplib consume/publish-with-confirm/ack loop',
    { count },
  );
  return {
    amqp_ratio: {
      ...ratioOf,
      target: '>= 0.8',
      meetsTarget: (ratioOf.ratio ?? 0) >= 0.8,
    },
  };
}
