import { afterEach, describe, expect, it, vi } from 'vitest';
import { senderStage, SLOW_HAND_OVER_MS } from '../../processors/send-common.ts';
import type { Outcome } from '../../processors/runtime/stage.ts';
import { sampleEmail } from '../support/stack.ts';

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
