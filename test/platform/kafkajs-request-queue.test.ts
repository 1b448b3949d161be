import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * kafkajs 2.2.4's request queue (one per broker connection) re-armed a timer of a negative delay
 * after every check, pending requests or not (kafkajs#1556, #1667): every idle client ran a busy
 * loop of timers, hundreds a second per connection. The patch (patches/kafkajs+2.2.4.patch,
 * network/requestQueue/index.js) schedules a check only while requests wait, and still wakes a
 * throttled queue when its throttle ends.
 */
const require = createRequire(import.meta.url);
interface Queue {
  push(r: { entry: object; expectResponse: boolean; sendRequest: () => void; requestTimeout?: number }): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
  pending: unknown[];
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => Queue;

const noop = () => undefined;
const logger = { debug: noop, info: noop, warn: noop, error: noop };
const newQueue = () =>
  new RequestQueue({
    instrumentationEmitter: null,
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'b:9092',
    logger,
    isConnected: () => true,
  });
const entry = (correlationId: number) => ({
  correlationId,
  apiKey: 1,
  apiName: 'Fetch',
  apiVersion: 11,
  resolve: noop,
  reject: noop,
});

describe('kafkajs patch: the request queue', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('leaves no timer running once its requests are answered', () => {
    const queue = newQueue();
    const sent: number[] = [];
    for (const id of [1, 2, 3])
      queue.push({ entry: entry(id), expectResponse: true, sendRequest: () => sent.push(id) });
    for (const id of [1, 2, 3]) queue.fulfillRequest({ correlationId: id, payload: Buffer.alloc(0), size: 0 });
    expect(sent).toEqual([1, 2, 3]);
    // unpatched: a timer re-armed after each check, for ever
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends a request held by a throttle when the throttle ends', () => {
    const queue = newQueue();
    const sent: number[] = [];
    queue.maybeThrottle(50);
    queue.push({ entry: entry(7), expectResponse: true, sendRequest: () => sent.push(7) });
    expect(sent).toEqual([]);
    expect(queue.pending).toHaveLength(1);
    vi.advanceTimersByTime(49);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(20);
    expect(sent).toEqual([7]);
    queue.fulfillRequest({ correlationId: 7, payload: Buffer.alloc(0), size: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
