import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLAY_OF_HEADER } from '../../platform/dead-letters.ts';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import {
  eventually,
  publish,
  sampleOrder,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
} from '../support/stack.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

/**
 * `./dev dlq` on the real stack (issue 14): an order whose recipient the registry must look up is
 * dead-lettered by enrich-recipients while the registry is unreachable for longer than its
 * retries; the registry is then put right (the stages restarted with its address), the letter
 * is listed, shown and replayed with the command, and the email reaches the SMTP sink once. A
 * second replay of the same letter is refused and writes nothing. A poison order, dead-lettered by
 * both stages that read the orders topic, is listed as one record's two letters, found by its key,
 * and marked handled letter by letter.
 */
describe('dead letters: list, show, replay once', () => {
  const env = stackEnv();
  const prefix = uniquePrefix('dlq');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec } = testClients(config);
  // order-view reads the orders topic beside the scheduler: a poison order is dead-lettered by both
  const chain = ['scheduler', 'order-view', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'send-email'];
  const processEnv = (registryUrl: string) => ({
    ...stageEnv(config),
    REGISTRY_URL: registryUrl,
    REGISTRY_TIMEOUT_MS: '500',
    RETRY_MAX_ATTEMPTS: '2',
    RETRY_INITIAL_MS: '50',
    RETRY_MAX_MS: '100',
    SCHEDULER_POLL_MS: '50',
    SMTP_HOST: env.SMTP_HOST,
    SMTP_PORT: env.SMTP_PORT,
    SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
  });
  let stages: StageProcess | null = null;
  const dlq = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(root, 'scripts/dlq.ts'), ...args], {
        cwd: root,
        env: { ...process.env, ...stageEnv(config) },
      });
      return { code: 0, out: r.stdout + r.stderr, stdout: r.stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr, stdout: e.stdout };
    }
  };
  const emails = async (subject: string) =>
    ((await (await fetch(`${env.MAIL_WEB_URL}/email`)).json()) as { subject: string }[]).filter(
      (m) => m.subject === subject,
    ).length;

  beforeAll(async () => {
    await provision(kafka, codec, config);
    // the registry is unreachable: nothing listens on port 1
    stages = startStageProcess(chain, processEnv('http://127.0.0.1:1'));
    await stages.running;
  });
  afterAll(async () => {
    stages?.child.kill('SIGTERM');
    await stages?.exited;
    await kafka.close();
  });

  it('replays a letter whose cause was put right to its stage only, once, and the email is sent once', async () => {
    const subject = `dead letter ${prefix}`;
    const order = sampleOrder(1, {
      requestedSendTime: Date.now(),
      created: Date.now(),
      emailTemplate: { fromAddress: 'noreply@altinn.cloud', subject, body: 'replayed', contentType: 'Plain' },
      recipients: [
        {
          nationalIdentityNumber: '01017012345',
          organizationNumber: null,
          externalIdentity: null,
          emailAddress: null,
          mobileNumber: null,
          isReserved: null,
        },
      ],
    });
    await publish(kafka, codec, prefix, 'orders', [{ key: order.orderId, value: order }]);

    // dead-lettered once its retries are spent
    let listed = '';
    await eventually(async () => {
      listed = (await dlq('list', '--stage', 'enrich-recipients')).out;
      return listed.includes('RETRIES_EXHAUSTED');
    }, 'the dead letter');
    const id = /^\s+(\d+:\d+)\s+enrich-recipients/m.exec(listed)![1]!;
    expect(listed).toContain(`key ${order.orderId}`);
    expect(listed).toMatch(/1 dead letters of 1 records/);
    // filters: another stage, another code, a time before it
    expect((await dlq('list', '--stage', 'scheduler')).out).toMatch(/0 dead letters/);
    expect((await dlq('list', '--code', 'DECODE_FAILED')).out).toMatch(/0 dead letters/);
    expect((await dlq('list', '--until', '2020-01-01T00:00:00Z')).out).toMatch(/0 dead letters/);

    const shown = await dlq('show', id);
    expect(shown.code).toBe(0);
    const letter = JSON.parse(shown.stdout) as {
      stage: string;
      original: { topic: string; value: { orderId: string } };
    };
    expect(letter.stage).toBe('enrich-recipients');
    expect(letter.original.topic).toBe(topicName(prefix, 'ordersDue'));
    expect(letter.original.value.orderId).toBe(order.orderId);
    expect(await emails(subject)).toBe(0);

    // the registry is put right, then the letter replayed
    stages!.child.kill('SIGTERM');
    await stages!.exited;
    stages = startStageProcess(chain, processEnv(env.REGISTRY_URL));
    await stages.running;
    const replayed = await dlq('replay', id);
    expect(replayed.out).toContain(`${id}: replayed`);
    expect(replayed.code).toBe(0);
    await eventually(async () => (await emails(subject)) === 1, 'the email at the SMTP sink');

    // a second replay is refused and writes nothing
    const again = await dlq('replay', id);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/already replayed/);
    let copies = 0;
    await kafka.readSince(topicName(prefix, 'ordersDue'), 0, (r) => {
      if (r.headers[REPLAY_OF_HEADER]?.toString() === id) copies++;
    });
    expect(copies).toBe(1);
    expect(await emails(subject)).toBe(1);
    // and it is listed no more, unless asked for all
    expect((await dlq('list')).out).toMatch(/0 dead letters/);
    expect((await dlq('list', '--all')).out).toMatch(/\[replayed /);
  });

  it("groups one record's letters from two stages, finds them by key, and marks them handled, never replayed", async () => {
    const key = `poison-${prefix}`;
    const producer = await kafka.plainProducer();
    try {
      await producer.send([{ topic: topicName(prefix, 'orders'), key, value: Buffer.from('{"not":"avro"}') }]);
    } finally {
      await producer.close();
    }
    let listed = '';
    await eventually(async () => {
      listed = (await dlq('list', '--key', key)).out;
      return /2 dead letters of 1 records/.test(listed);
    }, 'both stages’ dead letters of the poison order');
    const ids = Object.fromEntries(
      [...listed.matchAll(/^\s+(\d+:\d+)\s+(scheduler|order-view)\s+DECODE_FAILED/gm)].map((m) => [m[2]!, m[1]!]),
    );
    expect(Object.keys(ids).sort()).toEqual(['order-view', 'scheduler']);
    expect(listed).toContain(`key ${key}`);
    expect((await dlq('list', '--key', 'another-key')).out).toMatch(/0 dead letters of 0 records/);

    const marked = await dlq('handled', ids.scheduler!);
    expect(marked.code).toBe(0);
    expect(marked.out).toContain(`${ids.scheduler}: marked handled`);
    // handled is final: not replayed, not marked again
    const replay = await dlq('replay', ids.scheduler!);
    expect(replay.code).toBe(1);
    expect(replay.out).toMatch(/already handled/);
    expect((await dlq('handled', ids.scheduler!)).code).toBe(1);
    let replays = 0;
    await kafka.readSince(topicName(prefix, 'orders'), 0, (r) => {
      if (r.headers[REPLAY_OF_HEADER] !== undefined) replays++;
    });
    expect(replays).toBe(0);
    // the other stage's letter of the same record is still listed, alone
    const rest = (await dlq('list', '--key', key)).out;
    expect(rest).toMatch(/1 dead letters of 1 records/);
    expect(rest).toContain(ids['order-view']!);
    expect((await dlq('handled', ids['order-view']!)).code).toBe(0);
    expect((await dlq('list', '--key', key)).out).toMatch(/0 dead letters/);
    expect((await dlq('list', '--key', key, '--all')).out.match(/\[handled /g)).toHaveLength(2);
    expect((await dlq('handled', '9:99999')).out).toMatch(/no such dead letter/);
  });
});
