/**
 * Adversarial email addresses (issue 12): strings a mail library may read as more than one
 * mailbox, or that break an SMTP command or header. `api`: the reference's pattern accepts it
 * (so it reaches the pipeline through the API); `single`: exactly one mailbox, safe to send to.
 * The evil domains (`evil*.nl`) must never receive anything.
 */
export interface CorpusAddress {
  name: string;
  address: string;
  api: boolean;
  single: boolean;
}

export const EMAIL_CORPUS: CorpusAddress[] = [
  { name: 'plain', address: 'kari.nordmann@example.com', api: true, single: true },
  { name: 'æøå local part', address: 'æge_sjøåsen@example.com', api: true, single: true },
  { name: 'IDN domain', address: 'ola@bøkeskog.no', api: true, single: true },
  { name: 'apostrophe and plus', address: "o'neil+tag@example.com", api: true, single: true },
  { name: 'dotted IPv4 domain', address: 'post@127.0.0.1', api: true, single: true },
  { name: 'long parts', address: `${'l'.repeat(64)}@${'d'.repeat(63)}.example.com`, api: true, single: true },
  { name: 'quoted list', address: '&quot;x@evil1.nl, y@evil2.nl&quot;@example.com', api: true, single: false },
  { name: 'quoted angle address', address: '&quot;Eve <eve@evil1.nl>&quot;@example.com', api: true, single: false },
  { name: 'quoted group', address: '&quot;grp: a@evil1.nl, b@evil2.nl:&quot;@example.com', api: true, single: false },
  { name: 'quoted comment', address: '&quot;(x)a@evil1.nl&quot;@example.com', api: true, single: false },
  { name: 'quoted CR LF', address: '&quot;a\r\nRCPT TO:<x@evil1.nl>&quot;@example.com', api: true, single: false },
  { name: 'quoted NUL', address: '&quot;a\u0000b@evil1.nl&quot;@example.com', api: true, single: false },
  { name: 'semicolon in atom', address: 'victim;attacker@evil1.nl', api: true, single: false },
  { name: 'encoded word', address: '=?utf-8?b?YUBldmlsMS5ubA==?=@example.com', api: true, single: false },
  // not accepted by the API, but a registry or a direct producer's record may carry them
  { name: 'plain list', address: 'a@evil1.nl, b@evil2.nl', api: false, single: false },
  { name: 'display name', address: 'Eve <eve@evil1.nl>', api: false, single: false },
  { name: 'header injection', address: 'k@example.com\r\nBcc: x@evil1.nl', api: false, single: false },
  { name: 'empty', address: '', api: false, single: false },
];
