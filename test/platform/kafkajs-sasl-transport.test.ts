import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * kafkajs's SASL exchange (patched): a broker that dies or stalls mid-handshake has not refused
 * the client, so the error stays the connection's (retriable, and taken by the consumer group for
 * an unreachable broker), while a broker's answer that the credentials are wrong stays an
 * authentication failure (not retriable: no reconnect loop on a bad password).
 */
const require = createRequire(import.meta.url);
const SASLAuthenticator = require('kafkajs/src/broker/saslAuthenticator/index.js') as new (
  connection: object,
  logger: object,
  versions: object,
  supportAuthenticationProtocol: boolean,
) => { authenticate(): Promise<void> };
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as {
  SaslHandshake: number;
  SaslAuthenticate: number;
};
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error;
};
type ErrorClass = new (e: string, o?: object) => Error & { retriable: boolean; name: string };
const { KafkaJSConnectionClosedError, KafkaJSRequestTimeoutError } = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionClosedError: ErrorClass;
  KafkaJSRequestTimeoutError: ErrorClass;
};

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const versions = {
  [apiKeys.SaslHandshake]: { minVersion: 0, maxVersion: 1 },
  [apiKeys.SaslAuthenticate]: { minVersion: 0, maxVersion: 1 },
};

/**
 * A connection whose broker accepts the SCRAM mechanism and then answers the first
 * SaslAuthenticate request with `failure` (thrown as the connection would throw it).
 */
function connection(mechanism: string, failure: Error) {
  const sent: number[] = [];
  return {
    sent,
    host: 'broker-1',
    port: 9093,
    sasl: { mechanism, username: 'stage', password: 'secret' },
    async send({ request }: { request: { apiKey: number } }) {
      sent.push(request.apiKey);
      if (request.apiKey === apiKeys.SaslHandshake) return { enabledMechanisms: [mechanism.toUpperCase()] };
      throw failure;
    },
  };
}

function authenticate(c: object) {
  return new SASLAuthenticator(c, { ...logger, namespace: () => logger }, versions, true).authenticate();
}

describe('a SASL exchange cut off by the broker (patched kafkajs)', () => {
  it.each([
    ['scram-sha-512', 'the connection closed', new KafkaJSConnectionClosedError('Closed connection')],
    ['scram-sha-256', 'the connection closed', new KafkaJSConnectionClosedError('Closed connection')],
    ['plain', 'the connection closed', new KafkaJSConnectionClosedError('Closed connection')],
    [
      'scram-sha-512',
      'the request timed out',
      new KafkaJSRequestTimeoutError('Request SaslAuthenticate(key: 36, version: 1) timed out'),
    ],
  ])('%s, %s: the connection error, retriable', async (mechanism, _what, failure) => {
    const c = connection(mechanism, failure);
    const error = await authenticate(c).then(
      () => null,
      (e: Error & { retriable?: boolean }) => e,
    );
    expect(c.sent).toEqual([apiKeys.SaslHandshake, apiKeys.SaslAuthenticate]);
    expect(error).toBe(failure);
    expect(error?.retriable).toBe(true);
  });

  it('a broker that refuses the credentials: an authentication failure, not retriable', async () => {
    const c = connection('scram-sha-512', createErrorFromCode(58)); // SASL_AUTHENTICATION_FAILED
    const error = await authenticate(c).then(
      () => null,
      (e: Error & { retriable?: boolean }) => e,
    );
    expect(error?.name).toBe('KafkaJSSASLAuthenticationError');
    expect(error?.message).toContain('SASL Authentication failed');
    expect(error?.retriable).toBe(false);
  });
});
