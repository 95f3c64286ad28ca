/**
 * One line of V8's `--trace-gc-nvp` output, as far as the parallel-scavenge test and the GC
 * bench (bench/amqp/gc.ts) read it: `[pid:isolate:threadId] <ms> ms: pause=<ms> ... gc=<kind>
 * ... background.scavenge.parallel=<ms> ...`. `kind` is `s` for a scavenge, `mc` or `mmc` for
 * a mark-compact; `helpersMs` is the time V8's helper threads spent in a scavenge.
 */
export interface GcTraceLine {
  threadId: number;
  kind: string;
  pauseMs: number;
  helpersMs: number;
}

const gcLine = /^\[\d+:0x[0-9a-f]+:(\d+)\].* gc=(\w+) /;

function field(text: string, name: string): number {
  const m = new RegExp(` ${name.replaceAll('.', '\\.')}=([\\d.]+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The line's GC, or undefined for any other line (or one a log line cut). */
export function parseGcTraceLine(text: string): GcTraceLine | undefined {
  const m = gcLine.exec(text);
  if (m === null) return undefined;
  return {
    threadId: Number(m[1]),
    kind: m[2] ?? '',
    pauseMs: field(text, 'pause'),
    helpersMs: field(text, 'background.scavenge.parallel'),
  };
}
