import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { kafkaUnreachable, rejoinNeeded } from '../../platform/kafka/adapter.ts';

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
type ErrorClass = new (e: unknown, o?: object) => Error;
const {
  KafkaJSConnectionError,
  KafkaJSConnectionClosedError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} = require('kafkajs/src/errors.js') as Record<
  | 'KafkaJSConnectionError'
  | 'KafkaJSConnectionClosedError'
  | 'KafkaJSGroupCoordinatorNotFound'
  | 'KafkaJSNonRetriableError'
  | 'KafkaJSNumberOfRetriesExceeded'
  | 'KafkaJSRequestTimeoutError'
  | 'KafkaJSSASLAuthenticationError',
  ErrorClass
>;

/**
 * What the runner stops a batch for: a heartbeat answered with one of the group coordinator's
 * errors that give the member's partitions out again, built as kafkajs builds them from the
 * protocol's codes (its names are its own: 16 is NOT_COORDINATOR_FOR_GROUP to it).
 */
describe('a heartbeat error that means the member must rejoin', () => {
  it('is one of the coordinator’s answers that give the partitions out again', () => {
    // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID
    for (const code of [27, 22, 25, 82]) expect(rejoinNeeded(createErrorFromCode(code)), `code ${code}`).toBe(true);
  });

  it('is not a broker’s or a connection’s failure, after which the member may still be one', () => {
    // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR (the coordinator
    // moved: looked up again, the member stays in its generation), REQUEST_TIMED_OUT, NETWORK_EXCEPTION
    for (const code of [14, 15, 16, 7, 13]) expect(rejoinNeeded(createErrorFromCode(code)), `code ${code}`).toBe(false);
    expect(rejoinNeeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'))).toBe(false);
    expect(rejoinNeeded(new Error('anything else'))).toBe(false);
    expect(rejoinNeeded(undefined)).toBe(false);
  });
});

/**
 * What a stage's partition verification and committed-offset reads take for Kafka not reached for
 * now, and wait out: kafkajs gives up on a refused connection at once, as not retriable.
 */
describe('an error that says Kafka is not reached for now', () => {
  const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112');
  it('is a broker refused, dropped or timed out, or a coordinator moving, as it is or as a cause', () => {
    for (const e of [
      refused,
      // the crash of a chaos run's send-email instance: given up at once by kafkajs's broker pool
      new KafkaJSNonRetriableError(refused, { cause: refused }),
      new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 8, retryTime: 2_000 }),
      new KafkaJSConnectionClosedError('Closed connection'),
      new KafkaJSRequestTimeoutError('Request OffsetFetch(key: 9, version: 7) timed out'),
      new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'),
      // GROUP_LOAD_IN_PROGRESS, GROUP_COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR_FOR_GROUP
      createErrorFromCode(14),
      createErrorFromCode(15),
      createErrorFromCode(16),
    ])
      expect(kafkaUnreachable(e), e.message).toBe(true);
  });

  it('is not a refusal, a fenced producer or anything else', () => {
    const other = new Error('something else');
    for (const e of [
      new KafkaJSSASLAuthenticationError('SASL SCRAM SHA512 authentication failed'),
      createErrorFromCode(29), // TOPIC_AUTHORIZATION_FAILED
      createErrorFromCode(47), // INVALID_PRODUCER_EPOCH
      createErrorFromCode(27), // REBALANCE_IN_PROGRESS: the member rejoins (rejoinNeeded)
      new KafkaJSNonRetriableError(other, { cause: other }),
      other,
    ])
      expect(kafkaUnreachable(e), e.message).toBe(false);
    expect(kafkaUnreachable(undefined)).toBe(false);
    expect(kafkaUnreachable(null)).toBe(false);
  });
});
