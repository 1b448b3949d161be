/** Local token minting for ./dev and the tests: the gateway itself only verifies tokens. */
import { importPKCS8, SignJWT } from 'jose';

/**
 * One reading of the clock for both `iat` and `exp`: jose reads it once for each, so a token
 * minted across a second's boundary lived one second longer than asked, and one minted for the
 * gateway's whole bound (an hour) was refused as living longer (401, a rare test failure).
 */
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A JWT as the gateway expects one, signed with a PEM (PKCS#8) private key. */
export async function mintToken(
  privateKeyPem: string,
  claims: { org?: string | undefined; scope?: string | undefined; ttlSeconds?: number },
): Promise<string> {
  const key = await importPKCS8(privateKeyPem, 'RS256');
  const payload: Record<string, unknown> = {};
  if (claims.org !== undefined) payload.org = claims.org;
  if (claims.scope !== undefined) payload.scope = claims.scope;
  const iat = nowSeconds();
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setIssuer('local-stack')
    .setExpirationTime(iat + (claims.ttlSeconds ?? 3600))
    .sign(key);
}

/**
 * A Platform Access Token as an Altinn platform app sends one (header `PlatformAccessToken`):
 * issued, and signed, by `issuer`, which the gateway takes as the ordering organisation.
 */
export async function mintAccessToken(privateKeyPem: string, issuer: string, ttlSeconds = 300): Promise<string> {
  const key = await importPKCS8(privateKeyPem, 'RS256');
  const iat = nowSeconds();
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setIssuer(issuer)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}
