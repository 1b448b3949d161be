import { connect, createServer, type Socket } from 'node:net';
import { freePort } from './process.ts';

/**
 * A TCP proxy to `target` (host:port) on a port of its own that listens only once `open()` is
 * called: before it, connections to its port are refused, as to a service that is down.
 */
export async function laterProxy(target: string) {
  const [host, port] = target.split(':') as [string, string];
  const own = await freePort();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  return {
    address: `127.0.0.1:${own}`,
    open: () => new Promise<void>((resolve) => server.listen(own, '127.0.0.1', resolve)),
    /** stops listening and cuts the connections it carries */
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve(undefined);
        server.close(resolve);
        for (const s of sockets) s.destroy();
      }),
  };
}
