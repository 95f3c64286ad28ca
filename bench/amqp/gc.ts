import { fileURLToPath } from 'node:url';
import * as amqp from 'amqplib';
import { ServiceProcess } from '../../test/helpers/service-process.js';
import { parseGcTraceLine } from '../../test/helpers/gc-trace.js';
import { fill, untilDepth } from './messages.js';
import { pipelineEnv } from './pipeline.js';
import { onFreshVhost } from './fresh-vhost.js';
import { round } from '../stats.js';

/**
 * What the garbage collector costs the pipeline, from V8's own trace: one sample service drains
 * `count` waiting events on a fresh vhost with `--trace-gc-nvp` on (bench/probes/gc-trace.ts),
 * and the scavenges and mark-compacts of every thread, from start to exit, are summed: their
 * pauses in the thread and, for scavenges, the time V8's helper threads spent in them
 * (`background.scavenge.parallel`), per message. The service's CPU per message moves by ±10 µs
 * from run to run on 2 shared cores; these sums move far less, so a change to the young
 * generation or to parallel scavenge shows here first (docs/performance.md). The extra JSON
 * argument adds to the service's environment (`{"PARALLEL_SCAVENGE":"true"}`). Not a case.
 *
 * CLI: `node dist/bench/amqp/gc.js [count] ['{"ENV":"value"}']`
 */

const count = Number(process.argv[2] ?? 20_000);
const extra = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>;
const probe = fileURLToPath(new URL('../probes/gc-trace.js', import.meta.url));

interface ThreadGc {
  scavenges: number;
  scavengePauseMs: number;
  helpersMs: number;
  markCompacts: number;
  markCompactPauseMs: number;
}

function summarise(lines: readonly string[]): Map<string, ThreadGc> {
  const byThread = new Map<string, ThreadGc>();
  for (const text of lines) {
    const line = parseGcTraceLine(text);
    if (line === undefined) continue;
    const thread = line.threadId === 0 ? 'main' : `thread ${line.threadId}`;
    const gc = byThread.get(thread) ?? {
      scavenges: 0,
      scavengePauseMs: 0,
      helpersMs: 0,
      markCompacts: 0,
      markCompactPauseMs: 0,
    };
    if (line.kind === 's') {
      gc.scavenges++;
      gc.scavengePauseMs += line.pauseMs;
      gc.helpersMs += line.helpersMs;
    } else if (line.kind === 'mc' || line.kind === 'mmc') {
      gc.markCompacts++;
      gc.markCompactPauseMs += line.pauseMs;
    }
    byThread.set(thread, gc);
  }
  return byThread;
}

await onFreshVhost('bench-gc', async (vhost) => {
  const admin = await amqp.connect(vhost.url);
  const channel = await admin.createConfirmChannel();
  const name = 'bench-gc';
  const env = pipelineEnv(vhost.url, name, 100);
  const service = new ServiceProcess({
    app: 'sample',
    env: {
      ...env,
      NODE_OPTIONS: `${env['NODE_OPTIONS'] ?? ''} --import=${probe}`.trim(),
      // V8 writes its lines through a C buffer that a log line may cut: warnings only.
      LOG_LEVEL: 'warn',
      ...extra,
    },
  });
  try {
    await fill(channel, `${name}.events`, count);
    await channel.assertQueue(`${name}.results`, { durable: true });
    await untilDepth(channel, `${name}.results`, count);
    service.signal('SIGTERM');
    await service.waitForExit(30_000); // V8's lines are written out at exit
    const texts = service.lines.map((l) => (typeof l['text'] === 'string' ? l['text'] : ''));
    const byThread = summarise(texts);
    const perMessage = (ms: number): number => round((ms * 1000) / count, 1);
    const sum = (pick: (gc: ThreadGc) => number): number =>
      [...byThread.values()].reduce((total, gc) => total + pick(gc), 0);
    console.log(
      JSON.stringify({
        count,
        env: extra,
        usPerMessage: {
          scavengePauses: perMessage(sum((gc) => gc.scavengePauseMs)),
          scavengeHelpers: perMessage(sum((gc) => gc.helpersMs)),
          markCompactPauses: perMessage(sum((gc) => gc.markCompactPauseMs)),
        },
        byThread: Object.fromEntries(
          [...byThread].map(([thread, gc]) => [
            thread,
            {
              scavenges: gc.scavenges,
              pauseUs: perMessage(gc.scavengePauseMs),
              helpersUs: perMessage(gc.helpersMs),
              markCompacts: gc.markCompacts,
            },
          ]),
        ),
      }),
    );
  } finally {
    await service.stop();
    await admin.close();
  }
});
