import { afterEach, describe, expect, it, vi } from 'vitest';
import { TAKEOVER_READ_MS, writtenByGoneHolder } from '../../gateway/orders/claim.ts';
import { createLogger } from '../../platform/logger.ts';

/**
 * A takeover learns whether the gone holder wrote its records within TAKEOVER_READ_MS; past it,
 * it writes them again, and the read it gave up on is ended (it would otherwise go on reading
 * Kafka in the background, its offsets lookups retried for up to 30 s while a leader is away).
 */
describe('a taken-over claim’s read of what its holder wrote', () => {
  afterEach(() => vi.useRealTimers());
  const log = createLogger({ level: 'silent' });

  it('is ended by its signal once it takes longer than the bound, and answers not written', async () => {
    vi.useFakeTimers();
    let given: AbortSignal | undefined;
    const answer = writtenByGoneHolder(
      (signal) => {
        given = signal;
        return new Promise<boolean>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error)),
        );
      },
      log,
      'order',
    );
    await vi.advanceTimersByTimeAsync(TAKEOVER_READ_MS - 1);
    expect(given?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answer).toBe(false);
    expect(given?.aborted).toBe(true);
  });

  it('answers what a read within the bound tells, its signal left alone', async () => {
    let given: AbortSignal | undefined;
    expect(
      await writtenByGoneHolder(
        async (signal) => {
          given = signal;
          return true;
        },
        log,
        'order',
      ),
    ).toBe(true);
    expect(given?.aborted).toBe(false);
  });
});
