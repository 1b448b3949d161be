import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * kafkajs's connection (patched) disconnected again and again after its broker died: kafkajs does
 * so at every failed attempt to reach the broker (its pool's other connections too), and each
 * `socket.unref()` of a destroyed socket added a 'connect' listener that never fires (Node's
 * MaxListenersExceededWarning, "possible memory leak", after ten: seen in the broker-loss test).
 * And an attempt to connect that it gives up on (its connection timeout) had its socket only
 * ended, not destroyed: one more left open at each attempt to a broker that hangs.
 */
const require = createRequire(import.meta.url);
const Connection = require('kafkajs/src/network/connection.js') as new (o: object) => {
  socket: net.Socket;
  connect(): Promise<boolean>;
  disconnect(): Promise<boolean>;
};
const socketFactory = (require('kafkajs/src/network/socketFactory.js') as () => unknown)();
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A "broker" that accepts connections and says nothing, and a kafkajs connection to it. */
async function silentBroker(options: object) {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const connection = new Connection({
    host: '127.0.0.1',
    port,
    logger: { ...logger, namespace: () => logger },
    socketFactory,
    requestTimeout: 1_000,
    ...options,
  });
  return { accepted, connection };
}

describe('a kafkajs connection whose broker died or hangs (patched kafkajs)', () => {
  it('is disconnected any number of times without a listener left on its dead socket', async () => {
    // the broker dies with the connection it accepted
    const { accepted, connection } = await silentBroker({ connectionTimeout: 1_000 });
    await connection.connect();
    const socket = connection.socket;
    const closed = once(socket, 'close');
    for (const s of accepted) s.destroy();
    await closed;
    expect(socket.destroyed).toBe(true);

    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 12; i++) await connection.disconnect();
      await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(socket.listenerCount('connect')).toBe(0);
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('destroys the socket of an attempt it gives up on (a broker that takes the connection and never answers the TLS handshake)', async () => {
    const { accepted, connection } = await silentBroker({
      ssl: { rejectUnauthorized: false },
      connectionTimeout: 200,
    });
    await expect(connection.connect()).rejects.toThrow('Connection timeout');
    // unpatched it was only ended: open for reading, its handshake still able to finish later
    expect(connection.socket.destroyed).toBe(true);
    for (const s of accepted) s.destroy();
  });
});
