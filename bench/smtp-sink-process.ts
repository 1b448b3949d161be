/**
 * A bench's SMTP server in a process of its own, so the bench's clients and the server do not
 * share one process's time and the server's CPU shows on its own: the test suite's counting sink
 * (`test/support/smtp-sink.ts`). It prints its port and the port of a small HTTP control server
 * once it listens. With `SINK_EXPECT=N` it prints one more line once it has accepted N distinct
 * notifications whose id does not start with `direct-` (the stage's; the email bench's direct
 * sends carry that prefix), with when it did (epoch ms). `GET /arrivals?from=i` answers the
 * accepted messages from the i-th on, in the order they came, as `[recipients, epoch ms]` pairs
 * (`remoteSmtpSink` in `bench/support.ts` mirrors them).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSmtpSink } from '../test/support/smtp-sink.ts';

const expected = Number(process.env.SINK_EXPECT ?? 0);
const sink = await startSmtpSink();
const control = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://sink');
  if (url.pathname !== '/arrivals') {
    res.writeHead(404).end();
    return;
  }
  const from = Math.max(0, Number(url.searchParams.get('from') ?? 0) || 0);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(sink.messages.slice(from).map((m) => [m.rcptTo, m.at])));
});
await new Promise<void>((r) => control.listen(0, '127.0.0.1', () => r()));
process.on('SIGTERM', () => {
  control.close();
  void sink.close().then(() => process.exit(0));
});
console.log(
  JSON.stringify({
    msg: 'smtp sink listening',
    port: sink.port,
    control: (control.address() as AddressInfo).port,
  }),
);

if (expected > 0) {
  // counted as messages arrive, from the first not looked at yet (a scan of all at each is quadratic)
  const ids = new Set<string>();
  let looked = 0;
  await sink.until(
    () => {
      while (looked < sink.messages.length) {
        const id = sink.messages[looked++]!.notificationId;
        if (!id.startsWith('direct-')) ids.add(id);
      }
      return ids.size >= expected;
    },
    24 * 3600_000,
    'the stage’s emails',
  );
  console.log(JSON.stringify({ msg: 'all accepted', count: ids.size, at: Date.now() }));
}
