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
    // An order whose recipients all come with an address needs no lookup: it is enriched at once,
    // off the runtime's promise path. Any lookup makes the handler asynchronous.
    handle(order: NotificationOrder) {
      const need = lookupsOf(order);
      if (need.nins.length + need.orgs.length + need.externals.length === 0) return build(order, need, NOTHING_FOUND);
      return lookUp(order, need).then((found) => build(order, need, found));
    },
  });

  async function lookUp(order: NotificationOrder, need: Lookups): Promise<Found> {
    const [persons, orgAddresses, externalContacts, names, userContacts] = await Promise.all([
      registry.persons(need.nins, order.useStaleContactInformation),
      registry.organizations(need.orgs),
      registry.externalIdentities(need.externals),
      registry.names([...need.nins.map((ssn) => ({ ssn })), ...need.orgs.map((orgNo) => ({ orgNo }))]),
      need.resourceId ? registry.userContacts(need.orgs, need.resourceId) : Promise.resolve([]),
    ]);
    // who of each organisation's user-registered contacts may perform the action on the resource
    const allowed: Found['allowed'] = new Map();
    await Promise.all(
      need.orgs.map(async (orgNo) => {
        const users = userContacts.find((u) => u.organizationNumber === orgNo)?.userContactPoints ?? [];
        if (!need.resourceId || users.length === 0) return;
        const ids = await registry.permitted(
          orgNo,
          need.resourceId,
          order.resourceAction ?? 'read',
          users.map((u) => u.userId),
        );
        allowed.set(orgNo, { users, ids });
      }),
    );
    return { persons, orgAddresses, externalContacts, names, allowed };
  }

  function build(order: NotificationOrder, need: Lookups, found: Found) {
    const { persons, orgAddresses, externalContacts, names, allowed } = found;
    const out: ResolvedRecipient[] = need.given.map((r) =>
      recipient({
        nationalIdentityNumber: r.nationalIdentityNumber,
        organizationNumber: r.organizationNumber,
        externalIdentity: r.externalIdentity,
        isReserved: r.isReserved ?? false,
        emailAddresses: distinctEmails([r.emailAddress]),
        mobileNumbers: distinctMobiles([r.mobileNumber]),
      }),
    );

    for (const nin of need.nins) {
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

    for (const orgNo of need.orgs) {
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
      const users = allowed.get(orgNo);
      if (!users) continue;
      // A user-registered contact that repeats an official address adds nothing.
      const officialEmails = new Set(emails.map((e) => e.toLowerCase()));
      const officialMobiles = new Set(mobiles);
      for (const u of users.users.filter((x) => users.ids.has(x.userId))) {
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

    for (const id of need.externals) {
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
        orderJson: null,
        order,
      },
    });
  }
}

type Lookups = ReturnType<typeof lookupsOf>;

/** the recipients given with an address, and the distinct identities to look up */
function lookupsOf(order: NotificationOrder) {
  const lookup = order.recipients.filter((r) => !r.emailAddress && !r.mobileNumber);
  const resourceId = order.resourceId?.startsWith(RESOURCE_PREFIX)
    ? order.resourceId.slice(RESOURCE_PREFIX.length)
    : order.resourceId;
  return {
    given: order.recipients.filter((r) => r.emailAddress || r.mobileNumber),
    nins: [...new Set(lookup.flatMap((r) => (r.nationalIdentityNumber ? [r.nationalIdentityNumber] : [])))],
    orgs: [...new Set(lookup.flatMap((r) => (r.organizationNumber ? [r.organizationNumber] : [])))],
    externals: [...new Set(lookup.flatMap((r) => (r.externalIdentity ? [r.externalIdentity] : [])))],
    resourceId,
  };
}

type Found = {
  persons: Awaited<ReturnType<RegistryClient['persons']>>;
  orgAddresses: Awaited<ReturnType<RegistryClient['organizations']>>;
  externalContacts: Awaited<ReturnType<RegistryClient['externalIdentities']>>;
  names: Map<string, string>;
  /** per organisation: its user-registered contacts, and which of them hold the right */
  allowed: Map<
    string,
    {
      users: Awaited<ReturnType<RegistryClient['userContacts']>>[number]['userContactPoints'];
      ids: Awaited<ReturnType<RegistryClient['permitted']>>;
    }
  >;
};

const NOTHING_FOUND: Found = {
  persons: [],
  orgAddresses: [],
  externalContacts: [],
  names: new Map(),
  allowed: new Map(),
};
