import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { topicName } from '../../platform/topics.ts';
import { stackEnv, stageEnv } from '../support/stack.ts';

const root = join(import.meta.dirname, '..', '..');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
const run = promisify(execFile);

/**
 * Invariant 1 of the design: an order the gateway acknowledged is never lost, also not when the
 * broker goes down. The test stack's Kafka is SIGKILLed while orders stream in through the API
 * and every stage runs (one OS process), then started again by the stack script. Every order
 * answered 201 must be emailed exactly once, and no order twice.
 */
describe('a Kafka broker SIGKILLed and restarted under load', () => {
  const stackDir = process.env.STACK_DIR;
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;

  beforeAll(async () => {
    sink = await startSmtpSink();
    g = await startTestGateway('brk', { publishTimeoutMs: 3_000 });
    proc = startStageProcess(['scheduler', 'prepare-notifications', 'send-email'], {
      ...stageEnv(g.config),
      REGISTRY_URL: stackEnv().REGISTRY_URL,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sink.port),
      SCHEDULER_POLL_MS: '50',
    });
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGKILL');
    await g?.close();
    await sink?.close();
  });

  it('emails every acknowledged order exactly once, and none twice', { timeout: 400_000 }, async () => {
    if (!stackDir) throw new Error('STACK_DIR is unset: run the tests with ./dev test');
    const acked: string[] = [];
    const refused: string[] = [];
    const other: string[] = [];
    let n = 0;
    let sending = true;
    // when the restarted broker was ready, and the first order acknowledged after that
    let backAt: number | null = null;
    let firstAfterBack: number | null = null;
    const order = async () => {
      const address = `brk-${n++}@example.com`;
      const r = await g.call('POST', '/future/orders', {
        idempotencyId: `brk-${address}`,
        recipient: { recipientEmail: { emailAddress: address, emailSettings: { subject: 'S', body: 'B' } } },
      });
      if (r.status === 201) {
        acked.push(address);
        if (backAt !== null && firstAfterBack === null) firstAfterBack = Date.now();
        for (const w of waiters) w();
      } else if (r.status === 503) refused.push(address);
      else other.push(`${address}: ${r.status} ${JSON.stringify(r.body)}`);
    };
    // four clients, each sending its next order as soon as the last is answered
    const clients = Array.from({ length: 4 }, async () => {
      while (sending) await order();
    });
    // (a failing client fails the test where it is awaited, not as an unhandled rejection)
    for (const c of clients) c.catch(() => (sending = false));
    const waiters = new Set<() => void>();
    const ackedAtLeast = (count: number, ms = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `only ${acked.length} of ${count} orders acknowledged after ${ms} ms (${refused.length} refused)`,
            ),
          );
        }, ms);
        const check = () => {
          if (acked.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });

    await ackedAtLeast(100);
    const kafkaPid = Number(readFileSync(join(stackDir, 'pids', 'kafka.pid'), 'utf8'));
    process.kill(kafkaPid, 'SIGKILL');
    const killedAt = Date.now();
    const atKill = acked.length;
    // The broker is not this process's child, so its end cannot be awaited as an event: look
    // until the pid is gone (the stack script would take a dying broker for a running one).
    for (let i = 0; isAlive(kafkaPid); i++) {
      if (i > 200) throw new Error(`Kafka (pid ${kafkaPid}) still alive 10 s after SIGKILL`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // the stack script starts what is not running (only Kafka) and waits for it to be ready
    await run('bash', [join(root, 'deploy', 'local', 'stack.sh'), 'up'], {
      env: { ...process.env, STACK_SKIP_INSTALL: '1' },
      timeout: 300_000,
    });
    backAt = Date.now();
    const killedFor = backAt - killedAt;
    await ackedAtLeast(atKill + 100);
    sending = false;
    await Promise.all(clients);

    expect(other).toEqual([]);
    try {
      await sink.untilAll(acked, sink.perRecipient, 150_000, 'every acknowledged order emailed');
    } catch (err) {
      const missing = acked.filter((a) => !sink.perRecipient.has(a));
      console.log(`not emailed: ${missing.length} of ${acked.length}: ${missing.slice(0, 10).join(', ')}`);
      // each stage's own lines (info and up) and the Kafka client's warnings, to see which stopped
      const lines = proc!
        .output()
        .split('\n')
        .filter((l) => /"stage":"[a-z-]+"|"component":"releaser"/.test(l) || /"level":(40|50|60)/.test(l));
      console.log(lines.slice(-400).join('\n').slice(-60_000));
      // BROKER_RESTART_DUMP=<file>: the stage process's whole output, for a closer look
      if (process.env.BROKER_RESTART_DUMP) writeFileSync(process.env.BROKER_RESTART_DUMP, proc!.output());
      throw err;
    }
    const emailedAfter = Date.now() - backAt;
    // a clean stop: whatever was in hand is sent or committed, so nothing more can arrive later
    proc!.child.kill('SIGTERM');
    expect(await proc!.exited).toBe(0);
    const twice = [...sink.perRecipient].filter(([, count]) => count > 1);
    console.log(
      `broker restart: ${acked.length} orders acknowledged (${atKill} before the kill), ${refused.length} refused, ` +
        `${acked.filter((a) => sink.perRecipient.has(a)).length} acknowledged emailed, ${twice.length} emailed twice, ` +
        `${refused.filter((a) => sink.perRecipient.has(a)).length} refused but emailed; broker away ` +
        `${(killedFor / 1000).toFixed(1)} s, first order acknowledged ${(((firstAfterBack ?? NaN) - backAt) / 1000).toFixed(1)} s ` +
        `and every acknowledged order emailed ${(emailedAfter / 1000).toFixed(1)} s after it was back`,
    );
    // A notification on email.queue twice, read committed, would be a batch of resolve-channel
    // committed twice. It used to show about one run in ten: the first copy was a transaction the
    // broker had aborted, handed to the reader by kafkajs (see test/platform/kafkajs-aborted.test.ts).
    const queued = new Map<string, number>();
    await g.kafka.readSince(topicName(g.prefix, 'emailQueue'), 0, (r) => {
      const k = r.key?.toString() ?? '';
      queued.set(k, (queued.get(k) ?? 0) + 1);
    });
    const repeated = [...queued].filter(([, c]) => c > 1).map(([k]) => k);
    console.log(`email.queue: ${queued.size} notifications, ${repeated.length} written more than once`);
    if (repeated.length > 0) {
      // what resolve-channel said around it (the known hole: a batch handled again after the restart)
      const lines = proc!
        .output()
        .split('\n')
        .filter((l) => l.includes('resolve-channel') && !l.includes('"level":20'));
      console.log(`repeated: ${repeated.slice(0, 5).join(', ')}\n${lines.slice(-80).join('\n')}`);
    }
    expect(repeated).toEqual([]);
    const sameTwice = [...sink.accepted].filter(([, count]) => count > 1).map(([id]) => id);
    if (twice.length > 0) {
      console.log(`emailed twice: ${JSON.stringify(twice)}; notifications sent twice: ${JSON.stringify(sameTwice)}`);
      // where the copy was made: the first topic on the way with an order on it twice
      for (const hop of ['orders', 'ordersDue', 'ordersEnriched', 'ordersApproved'] as const) {
        const counts = new Map<string, number>();
        await g.kafka.readSince(topicName(g.prefix, hop), 0, (r) => {
          const k = r.key?.toString() ?? '';
          counts.set(k, (counts.get(k) ?? 0) + 1);
        });
        console.log(`${hop}: ${counts.size} keys, ${[...counts.values()].filter((c) => c > 1).length} more than once`);
      }
      console.log(
        proc!
          .output()
          .split('\n')
          .filter((l) => /"level":(40|50)|partition verified|skipping/.test(l) && !/"component":"kafka"/.test(l))
          .join('\n')
          .slice(-20000),
      );
    }
    expect(twice).toEqual([]);
    expect(acked.filter((a) => !sink.perRecipient.has(a))).toEqual([]);
    // A 503 for an order chain may still have been stored (the produce went on after the deadline):
    // such an order is sent once, and a retry with its idempotencyId writes the same ids again.
    console.log(
      `refused but emailed (stored after the deadline): ${refused.filter((a) => sink.perRecipient.has(a)).length}`,
    );
  });
});
