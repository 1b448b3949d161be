import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_PATIENCE, kafkaLogLevel, kafkaLogLevels } from '../../platform/kafka/adapter.ts';

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error;
};
// kafkajs's levels, as its log entries carry them
const { logLevel } = require('kafkajs') as { logLevel: { ERROR: 1; WARN: 2; INFO: 4; DEBUG: 5 } };

/** kafkajs's log of a request answered with the protocol error `code`, as its connection logs it */
const response = (code: number) => ({
  message: 'Response Heartbeat(key: 12, version: 3)',
  error: createErrorFromCode(code).message,
});

/**
 * The level a kafkajs log entry gets in ours. A broker's death, a rebalance (every scaling and
 * rolling restart) or a moved leader made kafkajs log hundreds of errors in one chaos run (179
 * heartbeats answered REBALANCE_IN_PROGRESS, 969 refused connections), each tried again: warn. A
 * misconfiguration, or an error not known to pass, stays an error.
 */
describe('the level of a kafkajs log entry', () => {
  it('is warn for what a broker’s death, a rebalance or a moved leader makes kafkajs try again', () => {
    // NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, REBALANCE_IN_PROGRESS,
    // ILLEGAL_GENERATION, NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS
    for (const code of [16, 14, 15, 27, 22, 6, 19])
      expect(kafkaLogLevel(logLevel.ERROR, response(code)), `code ${code}`).toBe('warn');
    for (const message of [
      'Connection error: connect ECONNREFUSED 127.0.0.1:26112',
      'Connection error: read ECONNRESET',
      'Failed to send messages: Closed connection',
      'Failed to send messages: Broker 2 is no longer in the cluster (fenced or gone)',
    ])
      expect(kafkaLogLevel(logLevel.ERROR, { message }), message).toBe('warn');
  });

  it('stays an error for a misconfiguration or an error not known to pass', () => {
    for (const message of [
      'Connection error: unable to verify the first certificate',
      'Connection error: getaddrinfo ENOTFOUND kafka-0.kafka',
      'SASL SCRAM SHA512 authentication failed: SASL Authentication failed',
      'Failed to send messages: something else',
    ])
      expect(kafkaLogLevel(logLevel.ERROR, { message }), message).toBe('error');
    // TOPIC_AUTHORIZATION_FAILED, INVALID_PRODUCER_EPOCH
    for (const code of [29, 47]) expect(kafkaLogLevel(logLevel.ERROR, response(code)), `code ${code}`).toBe('error');
  });

  it('is debug for the routine waits, and kafkajs’s own level otherwise', () => {
    // CONCURRENT_TRANSACTIONS, UNSTABLE_OFFSET_COMMIT
    for (const code of [51, 88]) expect(kafkaLogLevel(logLevel.ERROR, response(code)), `code ${code}`).toBe('debug');
    expect(kafkaLogLevel(logLevel.WARN, { message: 'Consumer group received unsubscribed topics' })).toBe('warn');
    expect(kafkaLogLevel(logLevel.INFO, { message: 'Consumer has joined the group' })).toBe('info');
    expect(kafkaLogLevel(logLevel.DEBUG, { message: 'Request Fetch(key: 1, version: 11)' })).toBe('debug');
  });

  it('is info for a CreateTopics answered with errors: processes provisioning at once find topics made meanwhile', () => {
    const answered = { message: 'Response CreateTopics(key: 19, version: 3)', error: 'Topic creation errors' };
    expect(kafkaLogLevel(logLevel.ERROR, answered)).toBe('info');
    // (kafkajs's admin throws any error other than TOPIC_ALREADY_EXISTS, and provision's caller
    // logs that; another request's error stays an error)
    expect(
      kafkaLogLevel(logLevel.ERROR, { ...answered, message: 'Response CreatePartitions(key: 37, version: 0)' }),
    ).toBe('error');
    expect(kafkaLogLevel(logLevel.ERROR, { ...answered, error: 'something else' })).toBe('error');
  });
});

/**
 * A coordinator not ready yet answers every client's first requests to a broker just started,
 * and every client's for a few seconds after a coordinator moves: info while that lasts briefly
 * (seven warnings on every `./dev up` before), warn once it has lasted `warnAfterMs`.
 */
describe('a client’s coordinator waits', () => {
  it('are info while brief, warn once they persist, info again after a quiet spell', () => {
    let t = 0;
    const levelOf = kafkaLogLevels(() => t);
    const { warnAfterMs, quietMs } = COORDINATOR_PATIENCE;
    // NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE
    for (const code of [16, 14, 15]) expect(levelOf(logLevel.ERROR, response(code)), `code ${code}`).toBe('info');
    // other transient errors meanwhile stay warn, and misconfigurations errors
    expect(levelOf(logLevel.ERROR, response(27))).toBe('warn');
    expect(levelOf(logLevel.ERROR, { message: 'Connection error: connect ECONNREFUSED 127.0.0.1:1' })).toBe('warn');
    expect(levelOf(logLevel.ERROR, response(29))).toBe('error');
    t = warnAfterMs - 1;
    expect(levelOf(logLevel.ERROR, response(14))).toBe('info');
    t = warnAfterMs;
    expect(levelOf(logLevel.ERROR, response(14))).toBe('warn');
    // still the same run: each came within quietMs of the one before
    t += quietMs;
    expect(levelOf(logLevel.ERROR, response(16))).toBe('warn');
    // a new run after a quiet spell
    t += quietMs + 1;
    expect(levelOf(logLevel.ERROR, response(16))).toBe('info');
    // each client keeps its own run
    expect(kafkaLogLevels(() => t)(logLevel.ERROR, response(15))).toBe('info');
  });
});
