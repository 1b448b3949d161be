import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { NoAltinnNotifications } from '../schemas/generated/email-notification.ts';
import { allowedMimeType, isAbsoluteHttpsUrl, isAllowedAttachmentHost } from '../validation/attachments.ts';
import type { EgressGuard } from './egress.ts';

type Attachment = NoAltinnNotifications.Attachment;

/** One fetched file, as the mailer attaches it. */
export interface FetchedFile {
  filename: string;
  /** the allow-list's own spelling of the file's MIME type */
  contentType: string;
  content: Buffer;
}

export type FetchResult =
  | { kind: 'ok'; files: FetchedFile[] }
  /** the URL is not one to fetch, or the storage refused it (4xx other than 408 and 429): Email_Failed_InvalidSasUrl */
  | { kind: 'invalid'; reason: string }
  /** the files are larger together than allowed: Email_Failed_PayloadTooLarge */
  | { kind: 'too-large'; reason: string }
  /** the storage did not answer, or answered 5xx, 408 or 429: try again later */
  | { kind: 'transient'; reason: string };

export interface AttachmentFetcherOptions {
  /** refuses addresses the platform may not call (private, loopback, …) after DNS resolution */
  guard: EgressGuard;
  /** storage hosts a URL may name (ATTACHMENT_HOSTS) */
  hosts: readonly string[];
  /** longest fetch of one file, ms */
  timeoutMs: number;
  /** largest total size of one email's files, bytes */
  maxBytes: number;
  /** PEM of further certificate authorities to trust, beside the system's */
  ca?: string | undefined;
  userAgent?: string;
}

/**
 * Fetches a composed email's files from their SAS URLs at send time (reference: the email
 * service downloads the blobs, 30 s each; a storage's non-success answer is
 * `Failed_InvalidSasUrl`). Each URL is checked again before it is fetched (HTTPS, an allowed
 * host, an allowed MIME type: the record may come from a direct producer), fetched with a GET
 * whose address must pass the egress policy, without following redirects, and read no further
 * than the size left of `maxBytes`. A SAS URL carries its signature, a credential: no reason
 * given here names more of it than its host and the file's name.
 */
export class AttachmentFetcher {
  private readonly ca: string[] | undefined;

  constructor(private readonly o: AttachmentFetcherOptions) {
    this.ca = o.ca ? [...rootCertificates, o.ca] : undefined;
  }

  async fetchAll(list: readonly Attachment[]): Promise<FetchResult> {
    for (const a of list) {
      const refused = this.refusal(a);
      if (refused) return { kind: 'invalid', reason: refused };
    }
    const budget = { left: this.o.maxBytes };
    const results = await Promise.all(list.map((a) => this.fetchOne(a, budget)));
    // the first that failed for good decides; then one too large; then one to try again
    for (const kind of ['invalid', 'too-large', 'transient'] as const) {
      const failed = results.find((r): r is Exclude<FetchResult, { kind: 'ok' }> => r.kind === kind);
      if (failed) return failed;
    }
    return {
      kind: 'ok',
      files: results.map((r, i) => ({
        filename: list[i]!.filename,
        contentType: allowedMimeType(list[i]!.mimeType)!,
        content: (r as { kind: 'ok'; content: Buffer }).content,
      })),
    };
  }

  private refusal(a: Attachment): string | null {
    const name = `'${a.filename}'`;
    if (!isAbsoluteHttpsUrl(a.sasUrl)) return `the URL of ${name} is not an absolute HTTPS URL`;
    if (!isAllowedAttachmentHost(a.sasUrl, this.o.hosts))
      return `the URL of ${name} names a host that is not an allowed storage host`;
    if (!allowedMimeType(a.mimeType)) return `the MIME type of ${name} is not an allowed one`;
    const host = new URL(a.sasUrl).hostname.replace(/^\[|\]$/g, '');
    // node connects to an IP literal without a lookup: the policy is applied here
    if (isIP(host) && !this.o.guard.allows(host)) return `the address of ${name} is refused by the egress policy`;
    return null;
  }

  private fetchOne(
    a: Attachment,
    budget: { left: number },
  ): Promise<{ kind: 'ok'; content: Buffer } | Exclude<FetchResult, { kind: 'ok' }>> {
    const url = new URL(a.sasUrl);
    const name = `'${a.filename}' (${url.hostname})`;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: Parameters<typeof resolve>[0]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = httpsRequest(
        url,
        {
          method: 'GET',
          lookup: this.o.guard.lookup,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: { 'user-agent': this.o.userAgent ?? 'notifications-send-email' },
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            res.resume();
            const transient = status >= 500 || status === 408 || status === 429;
            return done({
              kind: transient ? 'transient' : 'invalid',
              reason: `the storage answered ${status} for ${name}`,
            });
          }
          const tooLarge = () => {
            req.destroy();
            done({
              kind: 'too-large',
              reason: `the files are larger together than ${this.o.maxBytes} bytes (at ${name})`,
            });
          };
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > budget.left) return tooLarge();
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            budget.left -= c.length;
            if (budget.left < 0) return tooLarge();
            chunks.push(c);
          });
          res.on('error', (e) => done({ kind: 'transient', reason: `fetching ${name} failed: ${e.message}` }));
          res.on('end', () => done({ kind: 'ok', content: Buffer.concat(chunks) }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done({ kind: 'transient', reason: `fetching ${name} took longer than ${this.o.timeoutMs} ms` });
      }, this.o.timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) =>
        done(
          e.code === 'EGRESS_REFUSED'
            ? { kind: 'invalid', reason: `the address of ${name} is refused by the egress policy` }
            : { kind: 'transient', reason: `fetching ${name} failed: ${e.code ?? e.message}` },
        ),
      );
      req.end();
    });
  }
}
