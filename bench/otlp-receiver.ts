import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/** A loopback OTLP/HTTP receiver that answers 200 and counts the bytes it is sent. */
export async function startOtlpReceiver(): Promise<{
  url: string;
  bytes: () => number;
  close(): Promise<void>;
}> {
  let bytes = 0;
  const server = createServer((req, res) => {
    // Counts and drops: the receiver must cost the machine as little as a remote one would.
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bytes: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
