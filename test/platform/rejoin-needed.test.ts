import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { rejoinNeeded } from '../../platform/kafka/adapter.ts';

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionError: new (message: string) => Error;
};

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
