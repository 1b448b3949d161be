import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import type { EnrichedOrder, NoAltinnNotifications } from '../../platform/schemas/generated/enriched-order.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import { resolveNotifications } from '../../platform/notifications/resolve.ts';
import { resolveChannelStage } from '../../processors/resolve-channel/stage.ts';
import { DEFAULT_WINDOW } from '../../platform/notifications/window.ts';
import { collectKeys } from '../support/collector.ts';
import { publish, sampleOrder, testClients, testConfig, testRunner, uniquePrefix } from '../support/stack.ts';

type Recipient = NoAltinnNotifications.ResolvedRecipient;
const person = (r: Partial<Recipient> = {}): Recipient => ({
  nationalIdentityNumber: '01017012345',
  organizationNumber: null,
  externalIdentity: null,
  name: 'Kari Nordmann',
  isReserved: false,
  emailAddresses: [],
  mobileNumbers: [],
  userRegistered: false,
  ...r,
});
const org = (r: Partial<Recipient> = {}): Recipient =>
  person({ nationalIdentityNumber: null, organizationNumber: '910000001', name: 'Test AS', ...r });

const SEND = Date.parse('2026-11-27T10:00:00Z'); // 11:00 in Oslo, inside the window
const order = (o: Partial<NotificationOrder>): NotificationOrder =>
  sampleOrder(1, {
    requestedSendTime: SEND,
    emailTemplate: {
      fromAddress: 'noreply@altinn.cloud',
      subject: 'Til $recipientName$',
      body: 'Hei $recipientName$ ($recipientNumber$)',
      contentType: 'Plain',
    },
    smsTemplate: { senderNumber: 'Altinn', body: 'Hei $recipientName$ ($recipientNumber$)' },
    ...o,
  });
let n = 0;
const run = (o: Partial<NotificationOrder>, recipients: Recipient[]) =>
  resolveNotifications(order(o), recipients, { now: SEND, window: DEFAULT_WINDOW, newId: () => `id-${++n}` });
const kinds = (r: ReturnType<typeof run>) =>
  r.statuses.map((s) => (s.destination ? `${s.status} ${s.destination}` : s.status));

describe('resolve-channel', () => {
  it('sends email to each address a person has, on the Email channel', () => {
    const r = run({ notificationChannel: 'Email' }, [
      person({ emailAddresses: ['kari@example.com'], mobileNumbers: ['+4799999999'] }),
    ]);
    expect(kinds(r)).toEqual(['Email_New kari@example.com', 'Order_Processed']);
    expect(r.emails[0]).toMatchObject({
      toAddress: 'kari@example.com',
      subject: 'Til Kari Nordmann',
      body: 'Hei Kari Nordmann ()',
    });
    expect(r.emails[0]!.expiry - SEND).toBe(48 * 3600_000);
  });

  it('marks a person without a mobile number as not identified on the Sms channel, and completes the order', () => {
    const r = run({ notificationChannel: 'Sms' }, [person({ emailAddresses: ['kari@example.com'] })]);
    expect(kinds(r)).toEqual(['SMS_Failed_RecipientNotIdentified', 'Order_Completed']);
    expect(r.sms).toEqual([]);
  });

  it('honours reservation unless the order ignores it', () => {
    const reserved = person({ isReserved: true, emailAddresses: ['per@example.com'] });
    expect(kinds(run({ notificationChannel: 'Email' }, [reserved]))).toEqual([
      'Email_Failed_RecipientReserved',
      'Order_Completed',
    ]);
    expect(kinds(run({ notificationChannel: 'Email', ignoreReservation: true }, [reserved]))).toEqual([
      'Email_New per@example.com',
      'Order_Processed',
    ]);
  });

  it('falls back from the preferred channel per person, each way', () => {
    const both = person({ emailAddresses: ['a@example.com'], mobileNumbers: ['+4790000001'] });
    const mobileOnly = person({ mobileNumbers: ['+4790000002'] });
    const emailOnly = person({ emailAddresses: ['c@example.com'] });
    const nothing = person();
    expect(kinds(run({ notificationChannel: 'EmailPreferred' }, [both, mobileOnly, nothing]))).toEqual([
      'Email_New a@example.com',
      'SMS_New +4790000002',
      'Email_Failed_RecipientNotIdentified',
      'Order_Processed',
    ]);
    expect(kinds(run({ notificationChannel: 'SmsPreferred' }, [both, emailOnly, nothing]))).toEqual([
      'SMS_New +4790000001',
      'Email_New c@example.com',
      'SMS_Failed_RecipientNotIdentified',
      'Order_Processed',
    ]);
  });

  it('fans an organisation out to every official address of the preferred kind, else every fallback one', () => {
    const withEmails = org({
      emailAddresses: ['post@test.example', 'varsel@test.example'],
      mobileNumbers: ['+4740000001'],
    });
    const mobilesOnly = org({ mobileNumbers: ['+4740000001', '+4740000002'] });
    expect(kinds(run({ notificationChannel: 'EmailPreferred' }, [withEmails]))).toEqual([
      'Email_New post@test.example',
      'Email_New varsel@test.example',
      'Order_Processed',
    ]);
    expect(kinds(run({ notificationChannel: 'EmailPreferred' }, [mobilesOnly]))).toEqual([
      'SMS_New +4740000001',
      'SMS_New +4740000002',
      'Order_Processed',
    ]);
    // A user-registered contact of the organisation falls back on its own.
    const contact = org({
      nationalIdentityNumber: '06067012345',
      userRegistered: true,
      mobileNumbers: ['+4790000003'],
    });
    expect(kinds(run({ notificationChannel: 'EmailPreferred' }, [withEmails, contact])).slice(2, 3)).toEqual([
      'SMS_New +4790000003',
    ]);
  });

  it('sends on both channels for EmailAndSms, with a placeholder where a channel has no address', () => {
    const r = run({ notificationChannel: 'EmailAndSms' }, [
      person({ emailAddresses: ['a@example.com'], mobileNumbers: ['+4790000001'] }),
      person({ emailAddresses: ['b@example.com'] }),
    ]);
    expect(kinds(r)).toEqual([
      'Email_New a@example.com',
      'SMS_New +4790000001',
      'SMS_Failed_RecipientNotIdentified',
      'Email_New b@example.com',
      'Order_Processed',
    ]);
  });

  it('fills $recipientNumber$ with the organisation number for organisations', () => {
    const r = run({ notificationChannel: 'Sms' }, [org({ mobileNumbers: ['+4740000001'] })]);
    expect(r.sms[0]).toMatchObject({ body: 'Hei Test AS (910000001)', sender: 'Altinn', sendingTimePolicy: 'Anytime' });
  });

  it("carries an SMS's text length as sent on its New event when keywords were filled in, else none", () => {
    const recipient = person({ name: 'Åse Ørn', mobileNumbers: ['+4799999999'] });
    const filled = run({ notificationChannel: 'Sms' }, [recipient]);
    expect(filled.sms[0]!.body).toBe('Hei Åse Ørn ()');
    expect(filled.statuses[0]).toMatchObject({ status: 'SMS_New', customBodyLength: 14, smsCount: 1 });
    const plain = run({ notificationChannel: 'Sms', smsTemplate: { senderNumber: 'Altinn', body: 'Hei' } }, [
      recipient,
    ]);
    expect(plain.statuses[0]).toMatchObject({ status: 'SMS_New', customBodyLength: null });
    // (an instant order's text is sent as given)
    const asGiven = resolveNotifications(order({ notificationChannel: 'Sms' }), [recipient], {
      now: SEND,
      window: DEFAULT_WINDOW,
      newId: () => `id-${++n}`,
      keywords: false,
    });
    expect(asGiven.statuses[0]).toMatchObject({ status: 'SMS_New', customBodyLength: null });
  });

  it('gives a Daytime SMS ordered after 17:00 Oslo time the window-aware expiry', () => {
    const evening = Date.parse('2026-11-27T21:10:00Z'); // 22:10 in Oslo
    const r = resolveNotifications(
      order({ notificationChannel: 'Sms', sendingTimePolicy: 'Daytime', requestedSendTime: evening }),
      [person({ mobileNumbers: ['+4799999999'] })],
      { now: evening, window: DEFAULT_WINDOW, newId: () => 'x' },
    );
    expect(new Date(r.sms[0]!.expiry).toISOString()).toBe('2026-11-30T08:00:00.000Z');
  });
});

describe('resolve-channel ids', () => {
  it('gives an order handled again the same ids (so the senders send it once), another order others', async () => {
    const stage = resolveChannelStage({ window: DEFAULT_WINDOW, clock: () => SEND });
    const enriched = (o: NotificationOrder): EnrichedOrder => ({
      orderId: o.orderId,
      creator: o.creator,
      enrichedAt: SEND,
      conditionChecks: 0,
      recipients: [
        person({ emailAddresses: ['a@example.com', 'b@example.com'], mobileNumbers: ['+4790000001'] }),
        person({ nationalIdentityNumber: '02017012345', isReserved: true }),
      ],
      orderJson: null,
      order: o,
    });
    const ids = async (o: NotificationOrder) => {
      const out = await stage.handle(enriched(o), {} as never);
      if (out.kind !== 'emit') throw new Error(`expected records, got ${out.kind}`);
      return out.records.map((r) => `${r.topic} ${r.key} ${(r.value as { notificationId?: string }).notificationId}`);
    };
    const first = order({ notificationChannel: 'EmailAndSms' });
    const again = await ids(first);
    expect(await ids(first)).toEqual(again);
    const notifications = again.filter((r) => !r.startsWith('status')).map((r) => r.split(' ')[1]);
    expect(new Set(notifications).size).toBe(3);
    const other = await ids(sampleOrder(2, { ...first, orderId: '5f1f1c57-0000-4000-8000-000000000002' }));
    expect(other.filter((r) => !r.startsWith('status')).some((r) => notifications.includes(r.split(' ')[1]))).toBe(
      false,
    );
  });
});

describe('resolve-channel fallback on the delivery outcome (an extension)', () => {
  const stage = (creators: string[] = []) =>
    resolveChannelStage({ window: DEFAULT_WINDOW, clock: () => SEND, fallbackCreators: creators });
  const handled = async (
    s: ReturnType<typeof stage>,
    o: NotificationOrder,
    recipients: Recipient[] = [person({ emailAddresses: ['kari@example.com'], mobileNumbers: ['+4799999999'] })],
  ) => {
    const out = await s.handle(
      {
        orderId: o.orderId,
        creator: o.creator,
        enrichedAt: SEND,
        conditionChecks: 0,
        recipients,
        orderJson: null,
        order: o,
      },
      {} as never,
    );
    if (out.kind !== 'emit') throw new Error(`expected records, got ${out.kind}`);
    return out.records;
  };
  const fallbacks = (records: Awaited<ReturnType<typeof handled>>) =>
    records.filter((r) => r.topic === 'status').map((r) => (r.value as { fallback: unknown }).fallback);

  it("puts a recipient's fallback on each of its preferred notifications' New events, only when asked", async () => {
    const asked = await handled(
      stage(),
      order({ notificationChannel: 'SmsPreferred', fallbackOnDeliveryFailure: true }),
    );
    const sms = asked.find((r) => r.topic === 'smsPending')!.value as { notificationId: string };
    expect(fallbacks(asked)).toEqual([
      {
        group: 'r0',
        members: [sms.notificationId],
        notifications: [
          {
            notificationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
            channel: 'Email',
            destination: 'kari@example.com',
            sender: 'noreply@altinn.cloud',
            subject: 'Til Kari Nordmann',
            body: 'Hei Kari Nordmann ()',
            html: false,
            sendingTimePolicy: 'Anytime',
          },
        ],
      },
      null, // the order's own Processed
    ]);
    // not asked: nothing; asked on a channel that is not a preference: nothing
    expect(fallbacks(await handled(stage(), order({ notificationChannel: 'SmsPreferred' })))).toEqual([null, null]);
    const both = await handled(stage(), order({ notificationChannel: 'EmailAndSms', fallbackOnDeliveryFailure: true }));
    expect(fallbacks(both).every((f) => f === null)).toBe(true);
    // a recipient with one kind of address has nothing to fall back to
    const one = await handled(
      stage(),
      order({ notificationChannel: 'EmailPreferred', fallbackOnDeliveryFailure: true }),
      [person({ emailAddresses: ['kari@example.com'] })],
    );
    expect(fallbacks(one)).toEqual([null, null]);
  });

  it("takes the creator's setting when the order does not say, and the order's when it does", async () => {
    const on = stage(['ttd']);
    const silent = order({ notificationChannel: 'EmailPreferred', creator: 'ttd' });
    const [first] = fallbacks(await handled(on, silent));
    expect(first).toMatchObject({
      notifications: [{ channel: 'Sms', destination: '+4799999999', body: 'Hei Kari Nordmann ()' }],
    });
    expect(fallbacks(await handled(on, { ...silent, fallbackOnDeliveryFailure: false }))[0]).toBeNull();
    expect(fallbacks(await handled(on, { ...silent, creator: 'other' }))[0]).toBeNull();
    expect(fallbacks(await handled(stage(['*']), { ...silent, creator: 'other' }))[0]).not.toBeNull();
  });

  it("falls back from an organisation's emails to all its mobiles once every email failed, with ids of their own", async () => {
    const o = order({ notificationChannel: 'EmailPreferred', fallbackOnDeliveryFailure: true });
    const recipients = [
      org({ emailAddresses: ['a@test.no', 'b@test.no'], mobileNumbers: ['+4790000001', '+4790000002'] }),
    ];
    const records = await handled(stage(), o, recipients);
    const emails = records.filter((r) => r.topic === 'emailQueue').map((r) => r.key);
    const [f1, f2] = fallbacks(records) as {
      members: string[];
      notifications: { notificationId: string; destination: string }[];
    }[];
    expect(f1).toEqual(f2);
    expect(f1!.members).toEqual(emails);
    expect(f1!.notifications.map((n) => n.destination)).toEqual(['+4790000001', '+4790000002']);
    const ids = [...emails, ...f1!.notifications.map((n) => n.notificationId)];
    expect(new Set(ids).size).toBe(4);
    // the order handled again: the same ids
    expect(fallbacks(await handled(stage(), o, recipients))[0]).toEqual(f1);
  });
});

describe('resolve-channel stage', () => {
  const prefix = uniquePrefix('resolve');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec, logger } = testClients(config);
  const runner = testRunner(resolveChannelStage({ window: DEFAULT_WINDOW, clock: Date.now }), {
    kafka,
    codec,
    logger,
    config,
  });
  let outs: Awaited<ReturnType<typeof collectKeys>>[] = [];

  beforeAll(async () => {
    await provision(kafka, codec, config);
    outs = await Promise.all(
      (['emailQueue', 'smsPending', 'status'] as const).map((t) =>
        collectKeys(kafka, `${prefix}${t}`, topicName(prefix, t)),
      ),
    );
    await runner.start();
    await runner.joined();
  });
  afterAll(async () => {
    await runner.close();
    for (const o of outs) await o.stop();
    await kafka.close();
  });

  it('writes emails, SMS and their statuses in one go', async () => {
    const o = order({ notificationChannel: 'EmailAndSms' });
    const enriched: EnrichedOrder = {
      orderId: o.orderId,
      creator: o.creator,
      enrichedAt: Date.now(),
      conditionChecks: 0,
      recipients: [person({ emailAddresses: ['a@example.com'], mobileNumbers: ['+4790000001'] })],
      orderJson: null,
      order: o,
    };
    await publish(kafka, codec, prefix, 'ordersApproved', [{ key: o.orderId, value: enriched }]);
    const [email, sms, status] = outs as [(typeof outs)[0], (typeof outs)[0], (typeof outs)[0]];
    // One transaction wrote all three topics; each is read by its own consumer.
    await status.waitFor(() => status.total >= 3, 20_000, 'three status events');
    await email.waitFor(() => email.total >= 1, 20_000, 'the email');
    await sms.waitFor(() => sms.total >= 1, 20_000, 'the SMS');
    expect(email.total).toBe(1);
    expect(sms.total).toBe(1);
    expect(status.counts.get(o.orderId)).toBe(3);
  });
});
