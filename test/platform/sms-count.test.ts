import { describe, expect, it } from 'vitest';
import { smsCountOf } from '../../platform/notifications/sms-count.ts';

/** The reference's CalculateNumberOfMessages: the URL-encoded length, 160 in one, 134 a part, 16 at most. */
describe('what an SMS counts for', () => {
  it('counts by the length .NET UrlEncode gives the text', () => {
    expect(smsCountOf('')).toBe(1);
    expect(smsCountOf('a'.repeat(160))).toBe(1);
    expect(smsCountOf('a'.repeat(161))).toBe(2);
    expect(smsCountOf('a'.repeat(268))).toBe(2);
    expect(smsCountOf('a'.repeat(269))).toBe(3);
    // a space is one character (+), and so are -_.!*(); anything else three per UTF-8 byte
    expect(smsCountOf(' -_.!*()'.repeat(20))).toBe(1);
    expect(smsCountOf(`${'a'.repeat(158)}~`)).toBe(2); // %7e: 161
    expect(smsCountOf('æ'.repeat(26))).toBe(1); // %c3%a6: 156
    expect(smsCountOf('æ'.repeat(27))).toBe(2); // 162
    expect(smsCountOf('€'.repeat(18))).toBe(2); // %e2%82%ac: 162
    expect(smsCountOf('a'.repeat(10_000))).toBe(16);
  });
});
