import type { RegistryClient } from '../../platform/registry/client.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { distinctEmails, distinctMobiles } from '../../platform/registry/contacts.ts';

/**
 * Recipient lookup at order time (reference §6.2 step 1 and §8): for recipients named only by
 * national identity number, organisation number or external identity, are they reserved, and
 * does each have an address for the order's channel? Organisations count their official
 * notification addresses only (no authorisation check at this stage). The processing stage
 * looks up again at send time; that lookup is the one that decides.
 */
export interface LookupResult {
  status: 'Success' | 'PartialSuccess' | 'Failed';
  isReserved: string[];
  missingContact: string[];
  /** whether any recipient needed a lookup (v1 omits `recipientLookup` otherwise) */
  performed: boolean;
}

const wants = (channel: NotificationOrder['notificationChannel'], email: boolean, mobile: boolean): boolean =>
  channel === 'Email' ? email : channel === 'Sms' ? mobile : email || mobile;

export async function lookupRecipients(registry: RegistryClient, orders: NotificationOrder[]): Promise<LookupResult> {
  const reserved = new Set<string>();
  const missing = new Set<string>();
  const looked = new Set<string>();
  for (const order of orders) {
    const nins = order.recipients.flatMap((r) =>
      r.nationalIdentityNumber && !r.emailAddress && !r.mobileNumber ? [r.nationalIdentityNumber] : [],
    );
    const orgs = order.recipients.flatMap((r) =>
      r.organizationNumber && !r.emailAddress && !r.mobileNumber ? [r.organizationNumber] : [],
    );
    const externals = order.recipients.flatMap((r) => (r.externalIdentity ? [r.externalIdentity] : []));
    const [persons, organizations, selfIdentified] = await Promise.all([
      registry.persons(nins, order.useStaleContactInformation),
      registry.organizations(orgs),
      registry.externalIdentities(externals),
    ]);
    for (const nin of nins) {
      looked.add(nin);
      const p = persons.find((x) => x.nationalIdentityNumber === nin);
      if (p?.isReserved) reserved.add(nin);
      const ok =
        p &&
        wants(
          order.notificationChannel,
          distinctEmails([p.email]).length > 0,
          distinctMobiles([p.mobileNumber]).length > 0,
        );
      if (!ok) missing.add(nin);
    }
    for (const org of orgs) {
      looked.add(org);
      const o = organizations.find((x) => x.organizationNumber === org);
      const ok =
        o &&
        wants(
          order.notificationChannel,
          distinctEmails(o.emailList).length > 0,
          distinctMobiles(o.mobileNumberList).length > 0,
        );
      if (!ok) missing.add(org);
    }
    for (const ext of externals) {
      looked.add(ext);
      const e = selfIdentified.find((x) => x.externalIdentity === ext);
      const ok =
        e &&
        wants(
          order.notificationChannel,
          distinctEmails([e.email]).length > 0,
          distinctMobiles([e.mobileNumber]).length > 0,
        );
      if (!ok) missing.add(ext);
    }
  }
  // A reserved person is reported as reserved, not as missing contact information.
  for (const r of reserved) missing.delete(r);
  const unreachable = new Set([...missing, ...reserved]);
  const status =
    looked.size === 0 || unreachable.size === 0
      ? 'Success'
      : unreachable.size >= looked.size
        ? 'Failed'
        : 'PartialSuccess';
  return { status, isReserved: [...reserved], missingContact: [...missing], performed: looked.size > 0 };
}
