import { describe, expect, it } from 'vitest';
import { REPLAY_OF_HEADER } from '../../platform/dead-letters.ts';
import { RETRYING_SINCE, retryingSince } from '../../processors/send-email/stage.ts';

/**
 * Since when a composed email's files' storage has failed, as the retry lane reads it off its
 * record (unit; test/gateway/composed-email-chain.test.ts runs the window on the stack).
 */
describe('a composed email’s retry window', () => {
  const at = (headers: Record<string, string>) =>
    retryingSince({
      timestamp: 5_000,
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    });

  it('starts at the first failure, carried in its header from one write to the next', () => {
    expect(at({ [RETRYING_SINCE]: '1000' })).toBe(1000);
  });

  it('starts when the record was written without one (the first failure’s record, or one older than the header)', () => {
    expect(at({})).toBe(5_000);
    for (const bad of ['', 'soon', '-3', '1.5', '0', '9'.repeat(20)]) expect(at({ [RETRYING_SINCE]: bad })).toBe(5_000);
  });

  it('starts again with a dead letter’s replay: an operator’s new try', () => {
    expect(at({ [RETRYING_SINCE]: '1000', [REPLAY_OF_HEADER]: 'letter-1' })).toBe(5_000);
  });
});
