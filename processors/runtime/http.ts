import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Health = () => { ok: boolean; [k: string]: unknown };

/**
 * /health, the readiness, and /health/live, the liveness (each 200 when ok, else 503, with what
 * it looked at), and /metrics (Prometheus text).
 */
export async function startOpsServer(
  port: number,
  host: string,
  registry: Registry,
  health: { ready: Health; live: Health },
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/health' || req.url === '/health/live') {
        const h = req.url === '/health' ? health.ready() : health.live();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h));
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
      }
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
