import { afterEach, describe, expect, it, vi } from 'vitest';
import { senderStage, SLOW_HAND_OVER_MS } from '../../processors/send-common.ts';
import type { Outcome } from '../../processors/runtime/stage.ts';
import { sampleEmail, sampleSms } from '../support/stack.ts';

/** A hand-over that does not end says so, with the step it is stuck in (unit, fake timers). */
describe('a sender’s slow hand-over', () => {
  afterEach(() => void vi.useRealTimers());

  const ctx = (warn: (fields: object, msg: string) => void) =>
    ({
      topic: 't',
      partition: 0,
      offset: '0',
      key: null,
      timestamp: 0,
      headers: {},
      attempt: 1,
      logger: { warn } as never,
    }) as never;

  it('logs the step a hand-over is stuck in, and the slots under way and waiting', async () => {
    vi.useFakeTimers();
    const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
    const warn = (fields: object, msg: string) =>
      void warnings.push({ fields: fields as Record<string, unknown>, msg });
    const never = new Promise<Outcome>(() => undefined);
    const stage = senderStage('send-email', 'emailQueue', 1, (_n, mark) => {
      mark('SMTP hand-over');
      return never;
    });
    void stage.handle(sampleEmail('a@example.com'), ctx(warn));
    void stage.handle(sampleEmail('b@example.com'), ctx(warn));
    await vi.advanceTimersByTimeAsync(SLOW_HAND_OVER_MS - 1);
    expect(warnings).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(warnings.map((w) => [w.msg, w.fields.step, w.fields.underWay, w.fields.waiting])).toEqual([
      ['hand-over slow', 'SMTP hand-over', 1, 1],
      ['hand-over slow', 'waiting for a hand-over slot', 1, 1],
    ]);
  });

  it('says nothing about a hand-over that ends in time', async () => {
    vi.useFakeTimers();
    const warnings: unknown[] = [];
    const stage = senderStage('send-email', 'emailQueue', 2, async () => ({ kind: 'skip', reason: 'done' }) as never);
    await stage.handle(
      sampleEmail('a@example.com'),
      ctx((f) => void warnings.push(f)),
    );
    await vi.advanceTimersByTimeAsync(SLOW_HAND_OVER_MS * 2);
    expect(warnings).toEqual([]);
  });
});

/** When a hand-over's place is given back (unit): at the server's answer, or at the end. */
describe('a sender’s hand-over places', () => {
  const ctx = { logger: { warn: () => undefined } } as never;
  /** a promise and its resolve */
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  const skip = { kind: 'skip', reason: 'done' } as never as Outcome;

  it('gives the place back once the outcome’s write is issued, and ends the handler when it is recorded', async () => {
    const recordedA = deferred();
    const started: string[] = [];
    const stage = senderStage('send-email', 'emailQueue', 1, async (n, _mark, handedOver) => {
      started.push(n.toAddress);
      if (n.toAddress === 'a@example.com') {
        handedOver();
        await recordedA.promise;
      }
      return skip;
    });
    let aEnded = false;
    const a = Promise.resolve(stage.handle(sampleEmail('a@example.com'), ctx)).then(() => void (aEnded = true));
    const b = stage.handle(sampleEmail('b@example.com'), ctx);
    // one place: b goes while a's outcome is still being recorded
    await b;
    expect(started).toEqual(['a@example.com', 'b@example.com']);
    expect(aEnded).toBe(false);
    recordedA.resolve();
    await a;
    expect(aEnded).toBe(true);
  });

  it('holds the place to the end of a hand-over that does not say it was answered', async () => {
    const endA = deferred();
    const started: string[] = [];
    const stage = senderStage('send-sms', 'smsQueue', 1, async (n, _mark) => {
      started.push(n.notificationId);
      if (started.length === 1) await endA.promise;
      return skip;
    });
    const a = stage.handle(sampleSms('a'), ctx);
    const b = stage.handle(sampleSms('b'), ctx);
    // (b would have started within these turns of the event loop, as it does in the test above)
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(started).toHaveLength(1);
    endA.resolve();
    await Promise.all([a, b]);
    expect(started).toHaveLength(2);
  });
});
