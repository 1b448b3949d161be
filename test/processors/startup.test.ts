import { createServer, request, type Server } from 'node:http';
import { listenOnFreePort } from '../support/listen.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAIN_CUT_EXIT_CODE } from '../../platform/logger.ts';
import { freePort, startStageProcess, type StageProcess } from '../support/process.ts';
import { laterProxy } from '../support/tcp-proxy.ts';
import { eventually, stageEnv, testConfig, uniquePrefix } from '../support/stack.ts';

/**
 * A stage process that starts while the schema registry (or Kafka) is coming back keeps trying
 * for a while instead of exiting: the chaos run saw an instance exit 1 while starting, as a
 * broker came back. Here the registry answers 503 for its first 20 s (longer than the codec
 * retries by itself), through a proxy in front of the real one.
 */
describe('a stage process starting while a dependency is coming back', () => {
  const prefix = uniquePrefix('startup');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  let proxy: Server | null = null;
  let proc: StageProcess | null = null;
  afterAll(async () => {
    proc?.child.kill('SIGKILL');
    await new Promise((r) => proxy?.close(r));
  });

  it('tries its start-up again and runs once the registry answers', async () => {
    const target = new URL(config.SCHEMA_REGISTRY_URL);
    // 503 for 20 s from its first request: longer than the codec and its client retry by themselves (about 15 s)
    let firstAt: number | null = null;
    let refused = 0;
    proxy = createServer((req, res) => {
      firstAt ??= Date.now();
      if (Date.now() - firstAt < 20_000) {
        refused++;
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error_code":50301,"message":"starting"}');
        return;
      }
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    const { port } = await listenOnFreePort(proxy);

    proc = startStageProcess(['passthrough'], {
      ...stageEnv(config),
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}${target.pathname}`,
    });
    await proc.running;
    expect(refused).toBeGreaterThan(0);
    expect(proc.output()).toContain('failed while starting; trying again');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});

/**
 * A stage process started while Kafka does not answer at all (an outage, not a broker coming
 * back) tries for as long as it takes: not ready, alive while its tries keep ending, and running
 * once Kafka answers. It exited after about a minute before, and under Kubernetes each exit's
 * back-off (up to 5 minutes) held the stage down after Kafka was back. Kafka is reached here
 * through a TCP proxy that listens only from the moment the test says.
 */
describe('a stage process starting while Kafka does not answer', () => {
  it('is alive and not ready while it tries, and runs once Kafka answers', async () => {
    const config = testConfig(uniquePrefix('nokafka'), { TOPIC_PARTITIONS: '1' });
    const kafkaLater = await laterProxy(config.KAFKA_BROKERS[0]!);
    const opsPort = await freePort();
    const proc = startStageProcess(['passthrough'], {
      ...stageEnv(config),
      KAFKA_BROKERS: kafkaLater.address,
      STAGE_HTTP_PORT: String(opsPort),
    });
    try {
      const read = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${opsPort}${path}`).catch(() => null);
        return res && { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      // a try failed, and another begun: the process is another process, polled
      await eventually(
        async () => proc.output().includes('failed while starting; trying again'),
        'a failed try',
        60_000,
      );
      expect(await read('/health')).toEqual({
        status: 503,
        body: { ok: false, starting: 'provisioning topics and schemas' },
      });
      expect(await read('/health/live')).toEqual({
        status: 200,
        body: { ok: true, starting: 'provisioning topics and schemas' },
      });
      await kafkaLater.open();
      await proc.running;
      expect((await read('/health'))?.status).toBe(200);
      expect((await read('/health/live'))?.status).toBe(200);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      proc.child.kill('SIGKILL');
      await kafkaLater.close();
    }
  });
});

/**
 * A second stop while the process drains (an operator's second Ctrl-C) ends it at once, with the
 * code of a drain cut short: the signals sent one after the other, of two kinds, so the kernel
 * cannot merge them into one, and the second comes while the first's drain (its consumers
 * leaving their group, a round trip to the broker at least) is under way.
 */
describe('a stage process told to stop twice', () => {
  it('exits DRAIN_CUT_EXIT_CODE without finishing its drain', async () => {
    const config = testConfig(uniquePrefix('stoptwice'), { TOPIC_PARTITIONS: '1' });
    const proc = startStageProcess(['passthrough'], stageEnv(config));
    try {
      await proc.running;
      proc.child.kill('SIGTERM');
      proc.child.kill('SIGINT');
      expect(await proc.exited).toBe(DRAIN_CUT_EXIT_CODE);
      expect(proc.output()).toMatch(/"msg":"stopped again while draining; exiting without finishing the drain"/);
      expect(proc.output()).not.toMatch(/"msg":"drained; exiting"/);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});

describe('a stage process asked for two stages of one consumer group', () => {
  it.each([
    [
      ['enrich-recipients', 'prepare-notifications'],
      'enrich-recipients and prepare-notifications',
      'enrich-recipients',
    ],
    // evaluate-condition runs as a lane of prepare-notifications
    [
      ['evaluate-condition', 'prepare-notifications'],
      'evaluate-condition and evaluate-condition (a lane of prepare-notifications)',
      'evaluate-condition',
    ],
  ])(
    'refuses %j at once, naming both (they would share transactional ids and fence each other)',
    async (stages, both, group) => {
      const prefix = uniquePrefix('samegroup');
      const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
      const proc = startStageProcess(stages, { ...stageEnv(config), REGISTRY_URL: 'http://127.0.0.1:9' });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain(`stages ${both} read in the same consumer group (${group}): run one of them`);
    },
  );
});

/**
 * REDIS_WAIT_REPLICAS against a Redis with fewer replicas: no hand-over would ever be made, no
 * scheduled item or view write committed (each write waits out its time and is tried again), so
 * a process says so as it starts, once (the test stack's Redis has none).
 */
describe('a process whose Redis writes wait for replicas Redis does not have', () => {
  it.each(['send-email', 'scheduler', 'status-view'])('warns as it starts, once (%s)', async (stage) => {
    const config = testConfig(uniquePrefix('replicas'), { TOPIC_PARTITIONS: '1' });
    const proc = startStageProcess([stage], { ...stageEnv(config), REDIS_WAIT_REPLICAS: '1' });
    try {
      await proc.running;
      // (said from the stage's build, on the answer to one INFO: not ordered with the line above)
      const warning = new RegExp(
        `"level":40.*"connected":0,"online":0,"wanted":1,"msg":"REDIS_WAIT_REPLICAS: Redis has fewer replicas in step than it asks for`,
      );
      await eventually(async () => warning.test(proc.output()), 'the warning');
      // (status-view waits for them with two uses, its view writes and its expiry schedule)
      expect(proc.output().match(new RegExp(warning.source, 'g'))).toHaveLength(1);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });
});
