import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which addresses the platform may call on a sender's behalf (condition endpoints). Refused:
 * every range of IANA's IPv4 and IPv6 Special-Purpose Address Registries (private, shared,
 * loopback, link-local, documentation, benchmarking, protocol assignments, AS112, 6to4, Teredo,
 * NAT64, discard, reserved…), multicast, and the host's own interface addresses; an IPv6 address
 * that embeds an IPv4 one (mapped, compatible, NAT64, 6to4) is judged by its IPv4 address too.
 * `allowLoopback` / `allowPrivate` open loopback and the private ranges (RFC 1918, unique-local)
 * for local runs and tests; nothing opens the rest. The check runs on the address actually
 * connected to, after DNS resolution, so a name that re-resolves to an inside address (DNS
 * rebinding) is refused too.
 */
export interface EgressPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

export const STRICT_EGRESS: EgressPolicy = { allowLoopback: false, allowPrivate: false };

type Range = readonly [string, number];

const LOOPBACK_V4: Range[] = [['127.0.0.0', 8]];
const LOOPBACK_V6: Range[] = [['::1', 128]];
const PRIVATE_V4: Range[] = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
];
const PRIVATE_V6: Range[] = [['fc00::', 7]];
// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), less the above; and
// multicast.
const SPECIAL_V4: Range[] = [
  ['0.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.31.196.0', 24],
  ['192.52.193.0', 24],
  ['192.88.99.0', 24],
  ['192.175.48.0', 24],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
// IANA IPv6 Special-Purpose Address Registry, less the above; deprecated site-local; multicast.
// `::/96` (unspecified, IPv4-compatible) and `::ffff:0:0/96` (IPv4-mapped) are judged in
// `allows`: node's BlockList applies IPv6 rules to IPv4 addresses through their mapped form, so a
// rule for either range would refuse every IPv4 address.
const SPECIAL_V6: Range[] = [
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['100:0:0:1::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['2620:4f:8000::', 48],
  ['3fff::', 20],
  ['5f00::', 16],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
];

function blockList(policy: EgressPolicy): BlockList {
  const b = new BlockList();
  const add = (ranges: Range[], family: 'ipv4' | 'ipv6') => {
    for (const [net, bits] of ranges) b.addSubnet(net, bits, family);
  };
  add(SPECIAL_V4, 'ipv4');
  add(SPECIAL_V6, 'ipv6');
  if (!policy.allowLoopback) {
    add(LOOPBACK_V4, 'ipv4');
    add(LOOPBACK_V6, 'ipv6');
  }
  if (!policy.allowPrivate) {
    add(PRIVATE_V4, 'ipv4');
    add(PRIVATE_V6, 'ipv6');
  }
  return b;
}

/** The 8 groups of an IPv6 address (with or without `::` and a trailing dotted quad), or null. */
export function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const quad = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const o = quad[2]!.split('.').map(Number);
    if (o.some((x) => x > 255)) return null;
    text = `${quad[1]}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (h: string) =>
    h === '' ? [] : h.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return groups.some((g) => Number.isNaN(g)) ? null : groups;
}

/**
 * The IPv4 address an IPv6 address carries, where one of the embedding schemes puts it:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
 */
export function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (g[5] === 0xffff || g[5] === 0) && !(g[5] === 0 && g[6] === 0)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return null;
}

/** The host's own interface addresses, read again at most every `maxAgeMs`. */
function hostAddresses(maxAgeMs = 30_000): () => Set<string> {
  let at = 0;
  let cached = new Set<string>();
  return () => {
    if (Date.now() - at > maxAgeMs) {
      cached = new Set(
        Object.values(networkInterfaces())
          .flat()
          .filter((i) => i !== undefined)
          .map((i) => i.address.toLowerCase().replace(/%.*$/, '')),
      );
      at = Date.now();
    }
    return cached;
  };
}

export class EgressGuard {
  private readonly blocked: BlockList;
  private readonly host = hostAddresses();

  constructor(readonly policy: EgressPolicy) {
    this.blocked = blockList(policy);
  }

  /** Is a connection to this IP address allowed? */
  allows(address: string): boolean {
    const ip = address.toLowerCase().replace(/%.*$/, '');
    const family = isIP(ip);
    if (family === 0) return false;
    if (family === 4) return this.allowsV4(ip);
    // An IPv4-mapped address is the IPv4 address itself (the socket connects to it over IPv4);
    // the other embeddings (compatible, NAT64, 6to4) sit in refused IPv6 ranges, and their
    // IPv4 address must pass as well.
    const g = ipv6Groups(ip);
    if (!g) return false;
    const v4 = embeddedIpv4(ip);
    const firstFiveZero = g.slice(0, 5).every((x) => x === 0);
    if (v4 !== null && firstFiveZero && g[5] === 0xffff) return this.allowsV4(v4);
    // ::/96 but ::1: the unspecified address and the deprecated IPv4-compatible ones
    if (firstFiveZero && g[5] === 0 && !(g[6] === 0 && g[7] === 1)) return false;
    if (v4 !== null && !this.allowsV4(v4)) return false;
    const canonical = g.map((x) => x.toString(16)).join(':');
    return !this.blocked.check(canonical, 'ipv6') && !this.isHost(ip) && !this.isHost(canonical);
  }

  private allowsV4(ip: string): boolean {
    return !this.blocked.check(ip, 'ipv4') && !this.isHost(ip);
  }

  /** One of this machine's own addresses (other than an allowed loopback one). */
  private isHost(ip: string): boolean {
    if (this.policy.allowLoopback && (ip.startsWith('127.') || ip === '::1')) return false;
    return this.host().has(ip);
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
