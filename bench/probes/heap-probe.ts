import { getHeapStatistics } from 'node:v8';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

/**
 * A preload for bench runs of the service (`--expose-gc --import=<this file>` in
 * NODE_OPTIONS; it runs in the main thread and in every worker thread). On SIGUSR2 the main
 * thread collects garbage in every thread and prints one line to stderr:
 * `bench-heap-probe {"rssMb":..,"heapMb":{"<threadId>":..},"totalHeapMb":..,...}` with each
 * thread's used heap after its GC and the RAM V8 holds for it (`physicalMb`), and the
 * process's external and ArrayBuffer memory. Nothing of it is in the service's own code.
 */

type Reply = { kind: 'heap'; threadId: number; heapMb: number; physicalMb: number };
type Hello = { kind: 'hello'; threadId: number };
type Request = { kind: 'collect'; id: number };
type Note = Reply | Hello | Request;

const channel = new BroadcastChannel('bench-heap-probe');
const gc = (globalThis as { gc?: () => void }).gc;

/** This thread's used heap after a GC, and what V8 holds for its heap in RAM, in MiB. */
function afterGc(): { heapMb: number; physicalMb: number } {
  gc?.();
  const stats = getHeapStatistics();
  return {
    heapMb: stats.used_heap_size / 2 ** 20,
    physicalMb: stats.total_physical_size / 2 ** 20,
  };
}

if (isMainThread) {
  const threads = new Set<number>();
  let pending:
    | {
        id: number;
        heap: Record<string, number>;
        physical: Record<string, number>;
        timer: NodeJS.Timeout;
      }
    | undefined;
  let next = 0;
  const report = (): void => {
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    const { heap, physical } = pending;
    pending = undefined;
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    const { rss, external, arrayBuffers } = process.memoryUsage();
    const line = {
      rssMb: rss / 2 ** 20,
      heapMb: heap,
      totalHeapMb: sum(heap),
      physicalMb: physical,
      totalPhysicalMb: sum(physical),
      externalMb: external / 2 ** 20,
      arrayBuffersMb: arrayBuffers / 2 ** 20,
    };
    process.stderr.write(`bench-heap-probe ${JSON.stringify(line)}\n`);
  };
  channel.onmessage = (event) => {
    const note = (event as { data: Note }).data;
    if (note.kind === 'hello') threads.add(note.threadId);
    if (note.kind === 'heap' && pending !== undefined) {
      pending.heap[String(note.threadId)] = note.heapMb;
      pending.physical[String(note.threadId)] = note.physicalMb;
      if (Object.keys(pending.heap).length > threads.size) report();
    }
  };
  channel.unref(); // the probe never keeps a thread alive
  process.on('SIGUSR2', () => {
    if (pending !== undefined) return;
    // A thread that has ended does not answer: report what came within 2 s.
    const own = afterGc();
    pending = {
      id: ++next,
      heap: { [threadId]: own.heapMb },
      physical: { [threadId]: own.physicalMb },
      timer: setTimeout(report, 2000),
    };
    channel.postMessage({ kind: 'collect', id: pending.id } satisfies Request);
  });
} else {
  channel.postMessage({ kind: 'hello', threadId } satisfies Hello);
  channel.onmessage = (event) => {
    const note = (event as { data: Note }).data;
    if (note.kind === 'collect')
      channel.postMessage({ kind: 'heap', threadId, ...afterGc() } satisfies Reply);
  };
  channel.unref();
}
