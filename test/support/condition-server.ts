import { createServer, type Server } from 'node:http';
import { listenOnFreePort } from './listen.ts';

/**
 * A sender's condition endpoint, on loopback, answering per path: /true, /false, /500,
 * /flaky/<key> (500 the first time, then true), /silent (never answers), /malformed, /empty,
 * /wrongcase, /redirect (302 to /true). `calls` counts requests per path.
 */
export async function startConditionServer(): Promise<{
  base: string;
  calls: Map<string, number>;
  close(): Promise<void>;
}> {
  const calls = new Map<string, number>();
  const held: { destroy(): void }[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const n = (calls.get(path) ?? 0) + 1;
    calls.set(path, n);
    const json = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    };
    if (path === '/true') return json(200, '{"sendNotification":true}');
    if (path === '/false') return json(200, '{"sendNotification":false}');
    if (path === '/500') return json(500, '{"error":"the condition service failed"}');
    if (path.startsWith('/flaky/')) return n === 1 ? json(500, 'not yet') : json(200, '{"sendNotification":true}');
    if (path === '/silent') return void held.push(req.socket);
    if (path === '/malformed') return json(200, '{"sendNotification":');
    if (path === '/empty') return json(200, '');
    if (path === '/wrongcase') return json(200, '{"SendNotification":true}');
    if (path === '/redirect') {
      res.writeHead(302, { location: '/true' });
      return res.end();
    }
    json(404, '{}');
  });
  const { port } = await listenOnFreePort(server);
  return {
    base: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of held) s.destroy();
        server.close(() => resolve());
      }),
  };
}
