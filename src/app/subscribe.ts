import { SocketRegistry, createLogger, zmqEndpoint } from '../lib/index.js';
import { resultsTopic } from './pipeline.js';

/**
 * `npm run subscribe [-- ENDPOINT]`: prints each result the service publishes, one JSON line
 * per result, until INT or TERM, or until its reader goes away (`npm run subscribe | head`),
 * as a Unix filter does. A result that is not JSON (someone else publishing on the endpoint)
 * is printed as its text. The endpoint defaults to ZMQ_PUB_ENDPOINT, then to
 * tcp://127.0.0.1:5556.
 */
/**
 * The line for one result: the result as JSON, or as its text when it is not JSON, or when
 * its JSON cannot be written back (nested thousands deep: JSON.stringify overflowed the stack
 * and the subscriber ended with 1 on a 10 KB result).
 */
function lineOf(correlationId: string | undefined, traceparent: string, body: string): string {
  const head = { correlationId, ...(traceparent.length > 0 && { traceparent }) };
  try {
    return JSON.stringify({ ...head, result: JSON.parse(body) as unknown });
  } catch {
    return JSON.stringify({ ...head, text: body });
  }
}

/**
 * What a subscriber cannot connect to, though the service may bind it: a `*` host or port, port
 * 0, or `inproc://` (another process's in-process endpoint). The first two failed with
 * zeromq's bare "Invalid argument" and a stack; the others waited for ever.
 */
function unconnectable(endpoint: string): string | undefined {
  if (endpoint.startsWith('inproc://')) return 'inproc:// is in-process only';
  const tcp = /^tcp:\/\/(.*):([^:]*)$/.exec(endpoint);
  if (tcp === null) return undefined;
  if (tcp[1] === '*' || tcp[2] === '*' || Number(tcp[2]) === 0) {
    return 'a subscriber connects to a host and a port: no * and no port 0';
  }
  return undefined;
}

const endpoint = process.argv[2] ?? process.env['ZMQ_PUB_ENDPOINT'] ?? 'tcp://127.0.0.1:5556';
const log = createLogger({
  app: 'subscribe',
  thread: 'main',
  version: '',
  level: 'info',
  destination: process.stderr,
});
// Checked as the service checks its own (a bad one threw zeromq's bare "Invalid argument").
const endpointForm = zmqEndpoint();
if (!endpointForm.safeParse(endpoint).success) {
  log.error(
    { endpoint, expected: endpointForm.description },
    'not a ZeroMQ endpoint; nothing subscribed',
  );
  process.exit(78);
}
const reason = unconnectable(endpoint);
if (reason !== undefined) {
  log.error({ endpoint, reason }, 'not an endpoint to connect to; nothing subscribed');
  process.exit(78);
}
const zmq = new SocketRegistry({ log, lingerMs: 0 });
const socket = await zmq.open('sub', 'results-subscriber');
socket.connect(endpoint);
socket.subscribe(resultsTopic);
/** Resolves when stdout can take more (its reader caught up), or at the stop. */
let resume: (() => void) | undefined;
let stopped = false;
/**
 * Idempotent, so a stop signal's echo (Ctrl-C on `npm run subscribe` delivers INT twice) is
 * harmless. What stdout still holds for a reader that stalled gets a second, then is dropped:
 * a TERM waited for as long as the reader did (27 s measured), alive and doing nothing.
 */
const stop = (): void => {
  if (stopped) return;
  stopped = true;
  zmq.closeAll();
  resume?.();
  // Not stdout.destroy(): Node never closes process.stdout. Unref'd: a flushed stdout ends
  // the process at once.
  setTimeout(() => process.exit(), 1_000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stdout.on('drain', () => resume?.());
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // EPIPE: the reader is gone, which ends a filter quietly; anything else is a failure.
  if (error.code !== 'EPIPE') {
    log.error({ err: error }, 'cannot write to stdout');
    process.exitCode = 1;
  }
  stop();
});
log.info({ endpoint }, 'subscribed; waiting for results');
try {
  for (;;) {
    // Frames: topic, correlation id, JSON, traceparent ('' when the service traces nothing).
    const [, correlationId, body, traceparent] = await socket.receive();
    const line = lineOf(
      correlationId?.toString(),
      traceparent?.toString() ?? '',
      body?.toString() ?? '',
    );
    // A reader that stalls holds the receives: ZeroMQ's high-water mark then drops at the
    // publisher, where stdout's queue grew without bound (80 -> 941 MB measured).
    if (!process.stdout.write(`${line}\n`) && !stopped) {
      await new Promise<void>((resolve) => (resume = resolve));
      resume = undefined;
    }
  }
} catch (error) {
  if (!socket.isClosed) throw error;
}
