import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { smscOf } from '../support/smsc.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import {
  eventually,
  publish,
  sampleEmail,
  sampleSms,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
} from '../support/stack.ts';

/**
 * Issue 15, item 1: an instant notification never waits behind a campaign. The senders read the
 * instant lane (sms.instant, email.instant) in consumer groups of their own, with the SMTP
 * connections and SMPP window places reserved for it; a campaign queued on sms.queue and
 * email.queue ahead of it, paced at the account's rate, does not hold it back.
 */
describe('the instant lane', () => {
  const env = stackEnv();
  let proc: StageProcess | null = null;
  afterAll(() => proc?.child.kill('SIGKILL'));

  it('hands an instant SMS and email off while a campaign queued before them is still going out, and sends none late', async () => {
    const prefix = uniquePrefix('instant');
    const systemId = `inst-${randomUUID().slice(0, 8)}`;
    const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
    const { kafka, codec } = testClients(config);
    const sink = await startSmtpSink();
    try {
      await provision(kafka, codec, config);
      proc = startStageProcess(['send-sms', 'send-email'], {
        ...stageEnv(config),
        SMSC_HOST: env.SMSC_HOST,
        SMSC_PORT: env.SMSC_PORT,
        SMPP_SYSTEM_ID: systemId,
        SMPP_PASSWORD: 'secret',
        // the campaign takes 6 s at the accounts’ pace: 120 of each at 20/s
        SMPP_TPS: '20',
        SMPP_WINDOW: '5',
        EMAIL_RATE_PER_SECOND: '20',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(sink.port),
        SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
        SMTP_POOL_SIZE: '2',
      });
      await proc.running;
      const campaign = 120;
      const bulkSms = Array.from({ length: campaign }, (_, i) => sampleSms(`campaign ${i}`));
      const bulkEmail = Array.from({ length: campaign }, (_, i) => sampleEmail(`campaign-${i}@example.com`));
      await publish(
        kafka,
        codec,
        prefix,
        'smsQueue',
        bulkSms.map((s) => ({ key: s.notificationId, value: s })),
      );
      await publish(
        kafka,
        codec,
        prefix,
        'emailQueue',
        bulkEmail.map((e) => ({ key: e.notificationId, value: e })),
      );
      const { messages, texts } = smscOf(systemId);
      // the campaign is going out (the SMSC is another process: its list is read)
      await eventually(async () => (await messages()).length >= 10, 'the campaign’s first SMS at the SMSC');
      await sink.until(() => sink.messages.length >= 10, 20_000, 'the campaign’s first emails at the sink');

      // an instant SMS and email now, and an instant SMS whose time to live is over already
      const otp = sampleSms('Kode 424242', { expiry: Date.now() + 60_000 });
      const otpEmail = sampleEmail('otp@example.com');
      const stale = sampleSms('Kode 000000', { expiry: Date.now() - 1 });
      await publish(
        kafka,
        codec,
        prefix,
        'smsInstant',
        [otp, stale].map((s) => ({ key: s.notificationId, value: s })),
      );
      await publish(kafka, codec, prefix, 'emailInstant', [{ key: otpEmail.notificationId, value: otpEmail }]);

      await eventually(async () => (await texts()).includes('Kode 424242'), 'the instant SMS at the SMSC', 30_000);
      await sink.until(() => sink.accepted.has(otpEmail.notificationId), 30_000, 'the instant email at the sink');
      // handed off among the campaign's first, not after it
      const smsAt = (await texts()).indexOf('Kode 424242');
      const emailAt = sink.messages.findIndex((m) => m.notificationId === otpEmail.notificationId);
      console.log(
        `instant lane: the instant SMS was submit ${smsAt + 1} and the instant email message ${emailAt + 1}, of a campaign of ${campaign} each queued before them`,
      );
      expect(smsAt).toBeLessThan(campaign / 2);
      expect(emailAt).toBeLessThan(campaign / 2);

      // the campaign still all goes out, each once; the stale code never does, and is reported
      await eventually(async () => (await messages()).length >= campaign + 1, 'the whole SMS campaign', 60_000);
      await sink.until(() => sink.messages.length >= campaign + 1, 60_000, 'the whole email campaign');
      let statuses: StatusEvent[] = [];
      await eventually(async () => {
        const values: Buffer[] = [];
        await kafka.readSince(topicName(prefix, 'status'), 0, (r) => void values.push(r.value!));
        statuses = await Promise.all(values.map((v) => codec.decode('status', v)));
        return statuses.some((e) => e.notificationId === stale.notificationId);
      }, 'the stale instant SMS reported');
      expect(statuses.filter((e) => e.notificationId === stale.notificationId).map((e) => e.status)).toEqual([
        'SMS_Failed_TTL',
      ]);
      const sent = await texts();
      expect(sent).not.toContain('Kode 000000');
      expect(new Set(sent).size).toBe(sent.length);
      expect(sent).toHaveLength(campaign + 1);
    } finally {
      await kafka.close();
      await sink.close();
    }
  });
});
