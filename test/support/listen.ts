import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Serves `handler` (an express app, or any request listener) or starts `server` on a free
 * loopback port. Resolves once it listens, with the server, its port and a `close` that waits
 * for the server to stop.
 */
export async function listenOnFreePort(
  what: RequestListener | Server,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = typeof what === 'function' ? createServer(what) : what;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
