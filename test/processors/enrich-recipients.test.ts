import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundRecord } from '../../platform/kafka/adapter.ts';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { RegistryClient } from '../../platform/registry/client.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import { topicName } from '../../platform/topics.ts';
import { distinctEmails, normaliseMobile } from '../../platform/registry/contacts.ts';
import { enrichRecipientsStage } from '../../processors/enrich-recipients/stage.ts';
import {
  publish,
  sampleOrder,
  stackEnv,
  testClients,
  testConfig,
  testRunner,
  uniquePrefix,
  within,
} from '../support/stack.ts';

describe('contact point normalisation', () => {
  it.each([
    ['99315000', '+4799315000'],
    ['40000001', '+4740000001'],
    ['004799999999', '+4799999999'],
    ['+47 99 99 99 99', '+4799999999'],
    ['+4799999999', '+4799999999'],
    ['81549300', null],
    ['+4750000004', null],
    ['12345', null],
    ['', null],
    [null, null],
  ])('%j becomes %j', (input, expected) => {
    expect(normaliseMobile(input)).toBe(expected);
  });

  it('de-duplicates e-mail addresses without regard to case', () => {
    expect(distinctEmails(['Post@Firma.no', 'post@firma.no', ' varsel@firma.no ', null])).toEqual([
      'Post@Firma.no',
      'varsel@firma.no',
    ]);
  });
});

const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');

describe('enrich-recipients', () => {
  const env = stackEnv();
  const prefix = uniquePrefix('enrich');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1', RETRY_INITIAL_MS: '50', RETRY_MAX_MS: '300' });
  const { kafka, codec, logger } = testClients(config);
  const registry = new RegistryClient({
    baseUrl: env.REGISTRY_URL,
    timeoutMs: 2_000,
    breakerThreshold: 2,
    breakerHalfOpenAfterMs: 300,
  });
  const metricsRegistry = createRegistry(false);
  const runner = testRunner(
    enrichRecipientsStage({ registry, clock: Date.now }),
    { kafka, codec, logger, config },
    metricsRegistry,
  );
  const person = { nin: digits(11), reserved: digits(11), unknown: digits(11) };
  const org = digits(9);
  const enriched = new Map<string, EnrichedOrder>();
  const waiters = new Map<string, () => void>();
  let collector: { stop(): Promise<void> } | null = null;

  const seed = (body: unknown) =>
    fetch(`${env.REGISTRY_URL}/admin/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    await seed({
      persons: [
        { nationalIdentityNumber: person.nin, name: 'Kari Test', email: 'kari@example.com', mobileNumber: '98765432' },
        { nationalIdentityNumber: person.reserved, name: 'Per Reservert', email: 'per@example.com', isReserved: true },
      ],
      organizations: [
        {
          organizationNumber: org,
          name: 'Test AS',
          emailList: ['post@test.example', 'POST@test.example', 'varsel@test.example'],
          mobileNumberList: ['40000001', '+4740000001', '81549300'],
          userContacts: [
            {
              userId: 1,
              nationalIdentityNumber: digits(11),
              email: 'anne@test.example',
              mobileNumber: '+4790000001',
              rights: { app_ttd_demo: ['read'] },
            },
            {
              userId: 2,
              nationalIdentityNumber: digits(11),
              email: 'bjorn@test.example',
              rights: { app_ttd_demo: ['write'] },
            },
            {
              userId: 3,
              nationalIdentityNumber: digits(11),
              email: 'Post@test.example',
              rights: { app_ttd_demo: ['read'] },
            },
          ],
        },
      ],
    });
    await provision(kafka, codec, config);
    collector = await kafka.collect({
      groupId: `${prefix}out`,
      topics: [topicName(prefix, 'ordersEnriched')],
      onRecord: (r: InboundRecord) => {
        void codec.decode('ordersEnriched', r.value).then((v) => {
          enriched.set(v.orderId, v);
          waiters.get(v.orderId)?.();
        });
      },
    });
    await runner.start();
    await runner.joined();
  });

  afterAll(async () => {
    await fetch(`${env.REGISTRY_URL}/admin/outage`, { method: 'DELETE' });
    await runner.close();
    await collector?.stop();
    await kafka.close();
  });

  const enrich = async (order: ReturnType<typeof sampleOrder>): Promise<EnrichedOrder> => {
    const arrived = new Promise<void>((resolve) => waiters.set(order.orderId, resolve));
    await publish(kafka, codec, prefix, 'ordersDue', [{ key: order.orderId, value: order }]);
    await within(arrived, 30_000, 'the enriched order');
    return enriched.get(order.orderId)!;
  };
  const none = {
    emailAddress: null,
    mobileNumber: null,
    organizationNumber: null,
    nationalIdentityNumber: null,
    externalIdentity: null,
    isReserved: null,
  };

  it('looks persons up by national identity number: contact points, reservation, name', async () => {
    const result = await enrich(
      sampleOrder(1, {
        recipients: [
          { ...none, nationalIdentityNumber: person.nin },
          { ...none, nationalIdentityNumber: person.reserved },
          { ...none, nationalIdentityNumber: person.unknown },
        ],
      }),
    );
    expect(result.recipients).toEqual([
      expect.objectContaining({
        nationalIdentityNumber: person.nin,
        name: 'Kari Test',
        isReserved: false,
        emailAddresses: ['kari@example.com'],
        mobileNumbers: ['+4798765432'],
      }),
      expect.objectContaining({
        nationalIdentityNumber: person.reserved,
        isReserved: true,
        emailAddresses: ['per@example.com'],
        mobileNumbers: [],
      }),
      expect.objectContaining({
        nationalIdentityNumber: person.unknown,
        name: null,
        emailAddresses: [],
        mobileNumbers: [],
      }),
    ]);
    expect(result.order?.orderId).toBe(result.orderId);
    expect(result.orderJson).toBeNull();
  });

  it('fans an organisation out to its official addresses, plus permitted user contacts for a resource', async () => {
    const result = await enrich(
      sampleOrder(2, {
        resourceId: 'urn:altinn:resource:app_ttd_demo',
        recipients: [{ ...none, organizationNumber: org }],
      }),
    );
    expect(result.recipients).toEqual([
      expect.objectContaining({
        organizationNumber: org,
        name: 'Test AS',
        userRegistered: false,
        emailAddresses: ['post@test.example', 'varsel@test.example'],
        mobileNumbers: ['+4740000001'],
      }),
      // user 1 may read; user 2 only write; user 3 repeats an official address.
      expect.objectContaining({
        organizationNumber: org,
        userRegistered: true,
        emailAddresses: ['anne@test.example'],
        mobileNumbers: ['+4790000001'],
      }),
    ]);
  });

  it('keeps addresses given in the order without looking them up', async () => {
    const result = await enrich(sampleOrder(3, { recipients: [{ ...none, emailAddress: 'given@example.com' }] }));
    expect(result.recipients).toEqual([
      expect.objectContaining({ emailAddresses: ['given@example.com'], mobileNumbers: [] }),
    ]);
  });

  it('waits out a registry outage instead of failing or dropping the order', async () => {
    await fetch(`${env.REGISTRY_URL}/admin/outage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 503, count: 4 }),
    });
    const result = await enrich(sampleOrder(4, { recipients: [{ ...none, nationalIdentityNumber: person.nin }] }));
    expect(result.recipients[0]).toMatchObject({ emailAddresses: ['kari@example.com'] });
    const metrics = await metricsRegistry.metrics();
    expect(metrics).toMatch(
      /pipeline_records_retried_total\{stage="enrich-recipients",code="DEPENDENCY_UNAVAILABLE"\} [1-9]/,
    );
    expect(metrics).not.toMatch(/pipeline_records_dead_lettered_total\{stage="enrich-recipients"/);
  });
});
