import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../platform/registry/client.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * The registry client under concurrency: a gateway or a stage asks for many recipients at once.
 * With cockatiel's shared default signal, every call's timeout hung a listener on that one signal,
 * and an eleventh call at once made Node warn of a possible memory leak
 * (MaxListenersExceededWarning: in every gateway of the chaos run, at its first burst).
 */
describe('the registry client asked many times at once', () => {
  it('answers every call, without a warning', async () => {
    // a names register that answers each call after the others have been asked
    const asked: (() => void)[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { parties } = JSON.parse(body) as { parties: { ssn: string }[] };
        asked.push(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ partyNames: parties.map((p) => ({ ssn: p.ssn, orgNo: null, name: `N ${p.ssn}` })) }),
          );
        });
        if (asked.length === CALLS) for (const answer of asked) answer();
      });
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const CALLS = 20;

    const client = new RegistryClient({
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: 5_000,
      breakerThreshold: 5,
      breakerHalfOpenAfterMs: 1_000,
    });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const names = await Promise.all(
        Array.from({ length: CALLS }, (_, i) => client.names([{ ssn: String(10_000_000_000 + i) }])),
      );
      await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
      expect(names.map((m) => [...m.values()][0])).toEqual(
        Array.from({ length: CALLS }, (_, i) => `N ${10_000_000_000 + i}`),
      );
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });
});
