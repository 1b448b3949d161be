import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Which addresses the platform may call on a sender's behalf (condition endpoints). By default
 * loopback, link-local, private, shared (CGNAT), unspecified, multicast and broadcast ranges are
 * refused, in IPv4 and IPv6 (and IPv4-mapped IPv6), so a condition URL cannot reach inside the
 * platform. The check runs on the address actually connected to, after DNS resolution, so a
 * name that re-resolves to an inside address (DNS rebinding) is refused too.
 */
export interface EgressPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

export const STRICT_EGRESS: EgressPolicy = { allowLoopback: false, allowPrivate: false };

function blockList(policy: EgressPolicy): BlockList {
  const b = new BlockList();
  if (!policy.allowLoopback) {
    b.addSubnet('127.0.0.0', 8, 'ipv4');
    b.addAddress('::1', 'ipv6');
  }
  if (!policy.allowPrivate) {
    for (const [net, bits] of [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
      ['100.64.0.0', 10],
    ] as const) {
      b.addSubnet(net, bits, 'ipv4');
    }
    b.addSubnet('fc00::', 7, 'ipv6');
  }
  // Never reachable destinations, whatever the policy.
  b.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, incl. cloud metadata 169.254.169.254
  b.addSubnet('0.0.0.0', 8, 'ipv4');
  b.addSubnet('224.0.0.0', 4, 'ipv4');
  b.addAddress('255.255.255.255', 'ipv4');
  b.addSubnet('fe80::', 10, 'ipv6');
  b.addAddress('::', 'ipv6');
  b.addSubnet('ff00::', 8, 'ipv6');
  return b;
}

export class EgressGuard {
  private readonly blocked: BlockList;

  constructor(readonly policy: EgressPolicy) {
    this.blocked = blockList(policy);
  }

  /** Is a connection to this IP address allowed? */
  allows(address: string): boolean {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const ip = mapped ? mapped[1]! : address;
    const family = isIP(ip);
    if (family === 0) return false;
    return !this.blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** A `lookup` for node:http that resolves and then refuses any disallowed address. */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !this.allows(a.address));
      if (refused || list.length === 0) {
        const e = Object.assign(
          new Error(`address ${refused?.address ?? '(none)'} of ${hostname} is refused by the egress policy`),
          {
            code: 'EGRESS_REFUSED',
          },
        );
        return callback(e, '');
      }
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
