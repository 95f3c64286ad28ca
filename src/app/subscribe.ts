import { SocketRegistry, createLogger, zmqEndpoint } from '../lib/index.js';
import { resultsTopic } from './pipeline.js';

/**
 * `npm run subscribe [-- ENDPOINT]`: prints each result the service publishes, one JSON line
 * per result, until INT or TERM, or until its reader goes away (`npm run subscribe | head`),
 * as a Unix filter does. A result that is not JSON (someone else publishing on the endpoint)
 * is printed as its text. The endpoint defaults to ZMQ_PUB_ENDPOINT, then to
 * tcp://127.0.0.1:5556.
 */
/** The result as JSON, or as its text when it is not JSON. */
function parseResult(text: string): { result: unknown } | { text: string } {
  try {
    return { result: JSON.parse(text) as unknown };
  } catch {
    return { text };
  }
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
const zmq = new SocketRegistry({ log, lingerMs: 0 });
const socket = await zmq.open('sub', 'results-subscriber');
socket.connect(endpoint);
socket.subscribe(resultsTopic);
const stop = (): void => zmq.closeAll();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
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
    const line = {
      correlationId: correlationId?.toString(),
      ...(traceparent !== undefined &&
        traceparent.length > 0 && { traceparent: traceparent.toString() }),
      ...parseResult(body?.toString() ?? ''),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
} catch (error) {
  if (!socket.isClosed) throw error;
}
