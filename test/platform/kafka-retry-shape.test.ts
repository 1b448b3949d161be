import { createRequire } from 'node:module';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KAFKA_RETRY, KafkaAdapter } from '../../platform/kafka/adapter.ts';

const require = createRequire(import.meta.url);
type Retrier = (
  fn: (bail: (e: Error) => void, count: number, retryTime: number) => Promise<unknown>,
) => Promise<unknown>;
const RETRY_MODULE = require.resolve('kafkajs/src/retry/index.js');
const RETRY_DEFAULTS = ['defaults.js', 'defaults.test.js'].map((f) => require.resolve(`kafkajs/src/retry/${f}`));

/**
 * kafkajs's retrier as a process with this NODE_ENV loads it: kafkajs picks its default retry
 * options when the module is first required, one set when NODE_ENV is `test` (vitest's, which the
 * stage processes the tests start inherit) and another otherwise (production's).
 */
function retrierUnder(nodeEnv: string): (options: object) => Retrier {
  const before = process.env.NODE_ENV;
  for (const m of [RETRY_MODULE, ...RETRY_DEFAULTS]) delete require.cache[m];
  process.env.NODE_ENV = nodeEnv;
  try {
    return require(RETRY_MODULE) as (options: object) => Retrier;
  } finally {
    process.env.NODE_ENV = before;
    delete require.cache[RETRY_MODULE];
  }
}

/**
 * The delays (ms) the retrier waits before each try, its random part held at the middle, up to
 * `tries` tries or as many as the options allow.
 */
async function delays(createRetry: (options: object) => Retrier, options: object, tries: number): Promise<number[]> {
  const seen: number[] = [];
  const done = createRetry(options)(async (bail, count, retryTime) => {
    seen.push(retryTime);
    if (count + 1 >= tries) bail(new Error('enough'));
    throw new Error('again');
  }).catch(() => undefined);
  let settled = false;
  void done.then(() => (settled = true));
  while (!settled) await vi.runAllTimersAsync();
  return seen;
}

describe("the adapter's kafkajs retry options", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('back off alike whether NODE_ENV is test or production, as the Java client does', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const expected = {
      client: [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000],
      consumer: [300, 600, 1000, 1000, 1000, 1000],
      producer: [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000],
    };
    for (const nodeEnv of ['test', 'production']) {
      const createRetry = retrierUnder(nodeEnv);
      for (const kind of ['client', 'consumer', 'producer'] as const) {
        expect(await delays(createRetry, KAFKA_RETRY[kind], 12), `${kind} under NODE_ENV=${nodeEnv}`).toEqual(
          expected[kind],
        );
      }
    }
  });

  it("are the ones the adapter's Kafka client is given", () => {
    const adapter = new KafkaAdapter({
      clientId: 'retry-shape',
      brokers: ['127.0.0.1:9'],
      logger: pino({ level: 'silent' }),
    });
    const kafka = (adapter as unknown as { kafka: object }).kafka;
    const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:clusterRetry');
    expect(key).toBeDefined();
    expect((kafka as Record<symbol, unknown>)[key!]).toEqual(KAFKA_RETRY.client);
  });
});
