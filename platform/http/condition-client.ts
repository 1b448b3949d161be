import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { EgressGuard } from './egress.ts';

export type ConditionResult = { kind: 'met' } | { kind: 'not-met' } | { kind: 'inconclusive'; reason: string };

/**
 * Asks a sender's condition endpoint whether to send (reference §7): `GET <url>`, which must
 * answer 200 with JSON `{"sendNotification": true|false}` (property name case-sensitive).
 * Anything else (another status, an empty or malformed body, no answer in time, a refused or
 * failed connection) is inconclusive. Redirects are not followed. Connections go only where
 * the egress guard allows, checked on the resolved address.
 */
export class ConditionClient {
  constructor(
    private readonly opts: {
      guard: EgressGuard;
      timeoutMs: number;
      maxBodyBytes?: number;
      userAgent?: string;
      /** told each check's time and outcome, ok for an answer, error for inconclusive (for the metrics) */
      observe?: (seconds: number, outcome: 'ok' | 'error') => void;
    },
  ) {}

  async check(endpoint: string): Promise<ConditionResult> {
    const started = performance.now();
    const result = await this.ask(endpoint);
    this.opts.observe?.((performance.now() - started) / 1000, result.kind === 'inconclusive' ? 'error' : 'ok');
    return result;
  }

  private ask(endpoint: string): Promise<ConditionResult> {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return Promise.resolve({ kind: 'inconclusive', reason: 'condition endpoint is not a valid URL' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.resolve({
        kind: 'inconclusive',
        reason: `condition endpoint scheme ${url.protocol} is not http or https`,
      });
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Node connects to IP literals without a lookup: check them here.
    if (isIP(host) && !this.opts.guard.allows(host)) {
      return Promise.resolve({ kind: 'inconclusive', reason: `address ${host} is refused by the egress policy` });
    }
    const maxBody = this.opts.maxBodyBytes ?? 64 * 1024;
    return new Promise((resolve) => {
      const done = (r: ConditionResult) => {
        clearTimeout(timer);
        resolve(r);
      };
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        {
          method: 'GET',
          lookup: this.opts.guard.lookup,
          headers: { accept: 'application/json', 'user-agent': this.opts.userAgent ?? 'notifications-condition-check' },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBody) {
              res.destroy();
              done({ kind: 'inconclusive', reason: `response body larger than ${maxBody} bytes` });
            } else chunks.push(c);
          });
          res.on('error', (e) => done({ kind: 'inconclusive', reason: e.message }));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) {
              return done({
                kind: 'inconclusive',
                reason: `Unsuccessful response. First 50 character received: ${body.slice(0, 50)} (status ${res.statusCode})`,
              });
            }
            if (body.trim() === '') return done({ kind: 'inconclusive', reason: 'Response body is empty' });
            let parsed: unknown;
            try {
              parsed = JSON.parse(body);
            } catch {
              return done({ kind: 'inconclusive', reason: 'Response body is not valid JSON' });
            }
            const flag = (parsed as { sendNotification?: unknown } | null)?.sendNotification;
            if (typeof flag !== 'boolean')
              return done({ kind: 'inconclusive', reason: 'No condition response in the body' });
            done({ kind: flag ? 'met' : 'not-met' });
          });
        },
      );
      const timer = setTimeout(() => {
        request.destroy();
        done({ kind: 'inconclusive', reason: `no answer in ${this.opts.timeoutMs} ms` });
      }, this.opts.timeoutMs);
      request.on('error', (e: NodeJS.ErrnoException) =>
        done({
          kind: 'inconclusive',
          reason: e.code === 'EGRESS_REFUSED' ? e.message : `request failed: ${e.message}`,
        }),
      );
      request.end();
    });
  }
}
