import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * A consumer stopped while its fetchers were being rebuilt (the brokers leading its partitions
 * changed: a broker came back and took its preferred leaderships again) must stop. In kafkajs
 * 2.2.4 the fetch manager's rebuild went on after the stop: the stop found only the old fetchers
 * (already stopping), the rebuild then started new ones, and the consumer's fetch, asked while
 * it is not running, answers at once with nothing, so the new fetchers looped on promises alone.
 * That starved the process's event loop: no timer fired, not even the drain's own bound, and a
 * stage process asked to drain hung until it was SIGKILLed (the chaos test's rolling restart,
 * about 300 s after a broker restart, when Kafka moved the leaderships back).
 * The patch (patches/kafkajs+2.2.4.patch, consumer/fetchManager.js) ends the rebuild when a stop
 * was asked for meanwhile, and the consumer's fetch while not running yields to the event loop.
 */
const require = createRequire(import.meta.url);
type Fetcher = { start(): Promise<void> };
const createFetchManager = require('kafkajs/src/consumer/fetchManager.js') as (args: {
  logger: unknown;
  getNodeIds: () => number[];
  fetch: (nodeId: number) => Promise<unknown[]>;
  handler: (batch: unknown) => Promise<void>;
  concurrency?: number;
}) => { start(): Promise<void>; stop(): Promise<void>; getFetchers(): Fetcher[] };

const silent = {
  namespace: () => silent,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe("kafkajs's fetch manager", () => {
  it('ends a rebuild of its fetchers that a stop overtook, instead of starting fetchers that never stop', async () => {
    let nodeIds = [1, 2];
    let running = true;
    let fetchesWhileStopped = 0;
    let releaseNode1!: () => void;
    const node1Pending = new Promise<void>((r) => (releaseNode1 = r));
    let node1Fetches = 0;
    let node2Fetches = 0;
    const fm = createFetchManager({
      logger: silent,
      getNodeIds: () => nodeIds,
      // as the consumer's runner answers: nothing, after a turn of the event loop, once it is not
      // running (and a node it reads nothing from waits too: kafkajs sleeps its max wait there)
      fetch: async (nodeId) => {
        await new Promise((r) => setImmediate(r));
        if (!running) {
          fetchesWhileStopped++;
          return [];
        }
        // node 1's fetcher hands a batch on, whose handling the rebuild waits for (a fetcher
        // still waiting on its broker's answer is not waited for: the patch's fetcher.js)
        if (nodeId === 1) return ++node1Fetches === 1 ? [{ topic: 't', partition: 0 }] : [];
        // node 2's leaderships move away: its fetcher's next fetch finds the brokers changed
        if (nodeId === 2 && ++node2Fetches === 1) nodeIds = [1, 3];
        return [];
      },
      handler: () => node1Pending,
    });

    const started = fm.start();
    let settled = false;
    void started.then(
      () => (settled = true),
      () => (settled = true),
    );
    // the rebuild is waiting for node 1's fetcher to finish handling its batch
    await new Promise((r) => setTimeout(r, 20));
    expect([node1Fetches, node2Fetches]).toEqual([1, 1]);

    // the runner's stop, as kafkajs's consumer does it: not running, then the fetch manager stops
    running = false;
    const stopping = fm.stop();
    releaseNode1();
    await stopping;

    const until = Date.now() + 1_000;
    while (!settled && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(true);
    // (the old fetchers' last fetches may each have answered once while stopping)
    expect(fetchesWhileStopped).toBeLessThan(5);
    await fm.stop();
  });
});
