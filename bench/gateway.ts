/**
 * Gateway throughput (`./dev bench --suite gateway [--seconds S] [--connections C]`): accepted
 * `POST /future/orders` per second and p50/p99 latency under C concurrent connections, printed
 * beside the same load against a trivial express route, in the same run on the same machine.
 * Both servers run as their own processes; the load generator (autocannon) runs here. After the
 * run, the orders topic is counted: every 201 must be a record acknowledged by Kafka.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { topicName } from '../platform/topics.ts';
import { benchClients, benchToken, dropRun, startGateway, startProcess, stopProcesses } from './support.ts';

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  ok: number;
  other: number;
}

async function load(
  url: string,
  seconds: number,
  connections: number,
  headers: Record<string, string>,
): Promise<Figures> {
  const r = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            idempotencyId: randomUUID(),
            sendersReference: 'bench',
            recipient: {
              recipientEmail: {
                emailAddress: 'ola.normann@example.com',
                emailSettings: { subject: 'Benchmark', body: 'Dette er en test', contentType: 'Plain' },
              },
            },
          }),
        }),
      },
    ],
  });
  return {
    perSecond: r['2xx'] / seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r['2xx'],
    other: r.non2xx + r.errors + r.timeouts,
  };
}

export async function gatewayBench(seconds: number, connections: number): Promise<void> {
  const { prefix, kafka } = await benchClients('gw');

  const { publicKeyFile, token } = await benchToken('bench');

  const trivial = await startProcess('bench/trivial-server.ts', { PORT: '0' }, /"trivial listening","port":(\d+)/);
  const gateway = await startGateway({ TOPIC_PREFIX: prefix }, publicKeyFile);
  try {
    const auth = { authorization: `Bearer ${token}` };
    // A short warm-up of each, so JIT and connections are not part of the figures.
    await load(`http://127.0.0.1:${trivial.port}/orders`, 2, connections, auth);
    await load(`http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders`, 2, connections, auth);
    const base = await load(`http://127.0.0.1:${trivial.port}/orders`, seconds, connections, auth);
    const gw = await load(
      `http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders`,
      seconds,
      connections,
      auth,
    );

    let onTopic = 0;
    await kafka.readSince(topicName(prefix, 'orders'), 0, () => void onTopic++);
    const row = (name: string, f: Figures) =>
      `${name.padEnd(34)} ${f.perSecond.toFixed(0).padStart(8)} /s   p50 ${String(f.p50).padStart(4)} ms   p99 ${String(f.p99).padStart(4)} ms   non-2xx ${f.other}`;
    console.log(`${connections} connections, ${seconds} s each, after a 2 s warm-up`);
    console.log(row('trivial express POST (baseline)', base));
    console.log(row('gateway POST /future/orders', gw));
    console.log(`ratio gateway / baseline: ${(gw.perSecond / base.perSecond).toFixed(2)}`);
    console.log(`orders on the topic: ${onTopic} (201s incl. warm-up: acknowledged before answering)`);
  } finally {
    await stopProcesses([trivial.child, gateway.child]);
    await kafka.close();
    await dropRun(prefix);
  }
}
