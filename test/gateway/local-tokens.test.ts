import { decodeJwt, exportPKCS8, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKEN_LIFETIME_S, lifetimeProblem } from '../../gateway/auth.ts';
import { mintAccessToken, mintToken } from '../../gateway/local-tokens.ts';

const RealDate = Date;

/** A clock one millisecond before a second's boundary that moves on a millisecond per reading. */
function steppingClock(startMs: number) {
  let t = startMs;
  class SteppingDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length > 0) super(...(args as [number]));
      else super(t++);
    }
    static override now() {
      return t++;
    }
  }
  globalThis.Date = SteppingDate as DateConstructor;
}

describe('local tokens', () => {
  afterEach(() => {
    globalThis.Date = RealDate;
  });

  it('live exactly as long as asked, even when minted across a second’s boundary', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportPKCS8(privateKey);
    steppingClock(1_800_000_000_999);
    const token = decodeJwt(await mintToken(pem, { org: 'ttd', ttlSeconds: DEFAULT_MAX_TOKEN_LIFETIME_S }));
    steppingClock(1_800_000_100_999);
    const access = decodeJwt(await mintAccessToken(pem, 'ttd', 300));
    globalThis.Date = RealDate;
    expect(token.exp! - token.iat!).toBe(DEFAULT_MAX_TOKEN_LIFETIME_S);
    // the gateway's bound, checked in the second the token was issued
    expect(lifetimeProblem(token, DEFAULT_MAX_TOKEN_LIFETIME_S, token.iat!)).toBeNull();
    expect(access.exp! - access.iat!).toBe(300);
  });
});
