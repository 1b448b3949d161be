import type { RegistryClient } from '../../platform/registry/client.ts';
import type { NoAltinnNotifications } from '../../platform/schemas/generated/enriched-order.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { defineStage, emit, type Stage } from '../runtime/stage.ts';
import { distinctEmails, distinctMobiles } from '../../platform/registry/contacts.ts';

type ResolvedRecipient = NoAltinnNotifications.ResolvedRecipient;

const RESOURCE_PREFIX = 'urn:altinn:resource:';

const recipient = (r: Partial<ResolvedRecipient>): ResolvedRecipient => ({
  nationalIdentityNumber: null,
  organizationNumber: null,
  externalIdentity: null,
  name: null,
  isReserved: false,
  emailAddresses: [],
  mobileNumbers: [],
  userRegistered: false,
  ...r,
});

/**
 * enrich-recipients: at send time, looks each recipient up (reference §8). Persons: contact
 * points and reservation (KRR copy) and their name. Organisations: official notification
 * addresses and name, and with a resourceId, the user-registered contacts of the organisation
 * who may perform resourceAction (default "read") on it, less any address the official list
 * already has. External identities: their contact points. Numbers are normalised and invalid
 * ones dropped; addresses de-duplicated. A recipient given with an address keeps it. A
 * registry outage is retriable: the order waits, it is never failed or dropped.
 */
export function enrichRecipientsStage(ports: { registry: RegistryClient; clock: () => number }): Stage<'ordersDue'> {
  const { registry } = ports;
  return defineStage({
    name: 'enrich-recipients',
    input: 'ordersDue',
    outputs: ['ordersEnriched'],
    async handle(order: NotificationOrder) {
      const given = order.recipients.filter((r) => r.emailAddress || r.mobileNumber);
      const lookup = order.recipients.filter((r) => !r.emailAddress && !r.mobileNumber);
      const nins = [...new Set(lookup.flatMap((r) => (r.nationalIdentityNumber ? [r.nationalIdentityNumber] : [])))];
      const orgs = [...new Set(lookup.flatMap((r) => (r.organizationNumber ? [r.organizationNumber] : [])))];
      const externals = [...new Set(lookup.flatMap((r) => (r.externalIdentity ? [r.externalIdentity] : [])))];

      const [persons, orgAddresses, externalContacts, names] = await Promise.all([
        registry.persons(nins, order.useStaleContactInformation),
        registry.organizations(orgs),
        registry.externalIdentities(externals),
        registry.names([...nins.map((ssn) => ({ ssn })), ...orgs.map((orgNo) => ({ orgNo }))]),
      ]);

      const out: ResolvedRecipient[] = given.map((r) =>
        recipient({
          nationalIdentityNumber: r.nationalIdentityNumber,
          organizationNumber: r.organizationNumber,
          externalIdentity: r.externalIdentity,
          isReserved: r.isReserved ?? false,
          emailAddresses: distinctEmails([r.emailAddress]),
          mobileNumbers: distinctMobiles([r.mobileNumber]),
        }),
      );

      for (const nin of nins) {
        const p = persons.find((c) => c.nationalIdentityNumber === nin);
        out.push(
          recipient({
            nationalIdentityNumber: nin,
            name: names.get(nin) ?? null,
            isReserved: p?.isReserved ?? false,
            emailAddresses: distinctEmails([p?.email]),
            mobileNumbers: distinctMobiles([p?.mobileNumber]),
          }),
        );
      }

      const resourceId = order.resourceId?.startsWith(RESOURCE_PREFIX)
        ? order.resourceId.slice(RESOURCE_PREFIX.length)
        : order.resourceId;
      const userContacts = resourceId ? await registry.userContacts(orgs, resourceId) : [];
      for (const orgNo of orgs) {
        const official = orgAddresses.find((a) => a.organizationNumber === orgNo);
        const emails = distinctEmails(official?.emailList ?? []);
        const mobiles = distinctMobiles(official?.mobileNumberList ?? []);
        out.push(
          recipient({
            organizationNumber: orgNo,
            name: names.get(orgNo) ?? null,
            emailAddresses: emails,
            mobileNumbers: mobiles,
          }),
        );
        const users = userContacts.find((u) => u.organizationNumber === orgNo)?.userContactPoints ?? [];
        if (!resourceId || users.length === 0) continue;
        const allowed = await registry.permitted(
          orgNo,
          resourceId,
          order.resourceAction ?? 'read',
          users.map((u) => u.userId),
        );
        // A user-registered contact that repeats an official address adds nothing.
        const officialEmails = new Set(emails.map((e) => e.toLowerCase()));
        const officialMobiles = new Set(mobiles);
        for (const u of users.filter((x) => allowed.has(x.userId))) {
          const e = distinctEmails([u.email]).filter((x) => !officialEmails.has(x.toLowerCase()));
          const m = distinctMobiles([u.mobileNumber]).filter((x) => !officialMobiles.has(x));
          if (e.length === 0 && m.length === 0) continue;
          out.push(
            recipient({
              organizationNumber: orgNo,
              nationalIdentityNumber: u.nationalIdentityNumber,
              name: names.get(orgNo) ?? null,
              emailAddresses: e,
              mobileNumbers: m,
              userRegistered: true,
            }),
          );
        }
      }

      for (const id of externals) {
        const c = externalContacts.find((x) => x.externalIdentity === id);
        out.push(
          recipient({
            externalIdentity: id,
            emailAddresses: distinctEmails([c?.email]),
            mobileNumbers: distinctMobiles([c?.mobileNumber]),
          }),
        );
      }

      return emit({
        topic: 'ordersEnriched',
        key: order.orderId,
        value: {
          orderId: order.orderId,
          creator: order.creator,
          enrichedAt: ports.clock(),
          conditionChecks: 0,
          recipients: out,
          orderJson: JSON.stringify(order),
        },
      });
    },
  });
}
