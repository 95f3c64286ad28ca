import { readFileSync, readdirSync } from 'node:fs';
import * as amqp from 'amqplib';
import { ServiceProcess } from '../../test/helpers/service-process.js';
import { clockTicks } from '../proc.js';
import { fill, untilDepth } from './messages.js';
import { pipelineEnv } from './pipeline.js';
import { onFreshVhost } from './fresh-vhost.js';
import { round } from '../stats.js';
import { startOtlpReceiver } from '../otlp-receiver.js';

/**
 * Where the pipeline's CPU goes, by thread: one sample service drains `count` waiting events on
 * a fresh vhost, and the CPU each of its threads (main, processor, stats, V8's helper threads,
 * by their names in /proc) and the broker spent from `consumer started` to the last result is
 * printed per message. The extra JSON argument adds to the service's environment; with
 * `OTEL_TRACES_SAMPLER` in it, spans go to a loopback OTLP receiver in this process (the bytes
 * it took are printed). Figures for docs/performance.md and docs/observability.md; not a case.
 *
 * CLI: `node dist/bench/amqp/threads.js [count] ['{"ENV":"value"}']`
 */

const count = Number(process.argv[2] ?? 30_000);
const extra = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>;

/** CPU ticks by thread name, summed over the threads of that name. */
function ticksByThread(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    byName.set(name, (byName.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
  }
  return byName;
}

function perMessage(before: Map<string, number>, after: Map<string, number>) {
  const us = (ticks: number): number => round(((ticks / clockTicks()) * 1e6) / count, 1);
  const byThread: Record<string, number> = {};
  let total = 0;
  for (const [name, ticks] of after) {
    const spent = ticks - (before.get(name) ?? 0);
    total += spent;
    if (spent > 0) byThread[name] = us(spent);
  }
  return { total: us(total), byThread };
}

const receiver = await startOtlpReceiver();
if (extra['OTEL_TRACES_SAMPLER'] !== undefined)
  extra['OTEL_EXPORTER_OTLP_ENDPOINT'] ??= receiver.url;

try {
  await onFreshVhost('bench-threads', async (vhost, broker) => {
    const admin = await amqp.connect(vhost.url);
    const channel = await admin.createConfirmChannel();
    const name = 'bench-threads';
    const service = new ServiceProcess({
      app: 'sample',
      env: { ...pipelineEnv(vhost.url, name, 100), ...extra },
    });
    try {
      await fill(channel, `${name}.events`, count);
      await channel.assertQueue(`${name}.results`, { durable: true });
      await service.waitFor('consumer started', 30_000);
      const [service0, broker0] = [ticksByThread(service.pid), ticksByThread(broker)];
      const started = performance.now();
      await untilDepth(channel, `${name}.results`, count);
      const seconds = (performance.now() - started) / 1000;
      const [service1, broker1] = [ticksByThread(service.pid), ticksByThread(broker)];
      const figures = {
        count,
        env: extra,
        rate: round(count / seconds, 0),
        serviceCpuUs: perMessage(service0, service1),
        brokerCpuUs: perMessage(broker0, broker1).total,
      };
      service.signal('SIGTERM');
      await service.waitForExit(30_000);
      console.log(JSON.stringify({ ...figures, otlpBytes: receiver.bytes() }));
    } finally {
      await service.stop();
      await admin.close();
    }
  });
} finally {
  await receiver.close();
}
