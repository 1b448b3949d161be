/**
 * The email bench's SMTP server in a process of its own (`SINK_EXPECT=N`), so the bench's
 * clients and the server do not share one process's time: the test suite's counting sink
 * (`test/support/smtp-sink.ts`). It prints its port once it listens, and one line once it has
 * accepted N distinct notifications whose id does not start with `direct-` (the stage's; the
 * bench's direct sends carry that prefix), with when it did (epoch ms).
 */
import { startSmtpSink } from '../test/support/smtp-sink.ts';

const expected = Number(process.env.SINK_EXPECT ?? 0);
const sink = await startSmtpSink();
process.on('SIGTERM', () => void sink.close().then(() => process.exit(0)));
console.log(JSON.stringify({ msg: 'smtp sink listening', port: sink.port }));

// counted as messages arrive, from the first not looked at yet (a scan of all at each is quadratic)
const ids = new Set<string>();
let looked = 0;
await sink.until(
  () => {
    while (looked < sink.messages.length) {
      const id = sink.messages[looked++]!.notificationId;
      if (!id.startsWith('direct-')) ids.add(id);
    }
    return expected > 0 && ids.size >= expected;
  },
  24 * 3600_000,
  'the stage’s emails',
);
console.log(JSON.stringify({ msg: 'all accepted', count: ids.size, at: Date.now() }));
