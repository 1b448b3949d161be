import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  timeout,
  wrap,
} from 'cockatiel';
import { z } from 'zod';
import { PipelineError, permanent, retriable } from '../errors.ts';

/**
 * HTTP client for the national registries (Altinn Profile, Register and the resource-rights
 * decision point), in the shapes the registry simulator serves. Each call has a timeout; a
 * circuit breaker stops calling a registry that keeps failing and lets one call through after a
 * pause. Outages surface as retriable DEPENDENCY_UNAVAILABLE errors, so a stage waits (retries)
 * rather than failing an order; a 4xx answer is permanent DEPENDENCY_REJECTED.
 */
export interface RegistryClientOptions {
  baseUrl: string;
  /** per call, ms */
  timeoutMs: number;
  /** consecutive failures that open the circuit */
  breakerThreshold: number;
  /** how long the circuit stays open before one trial call, ms */
  breakerHalfOpenAfterMs: number;
  /** told each call's time and outcome (for the metrics) */
  observe?: (seconds: number, outcome: 'ok' | 'error') => void;
}

class Transient extends Error {}

const PersonContacts = z.object({
  contactPointsList: z.array(
    z.object({
      userId: z.number().optional(),
      nationalIdentityNumber: z.string(),
      isReserved: z.boolean().default(false),
      mobileNumber: z.string().nullable().optional(),
      email: z.string().nullable().optional(),
    }),
  ),
});
const OrgAddresses = z.object({
  contactPointsList: z.array(
    z.object({
      organizationNumber: z.string(),
      emailList: z.array(z.string()).default([]),
      mobileNumberList: z.array(z.string()).default([]),
    }),
  ),
});
const UserContacts = z.object({
  contactPointsList: z.array(
    z.object({
      organizationNumber: z.string(),
      userContactPoints: z.array(
        z.object({
          userId: z.number(),
          nationalIdentityNumber: z.string(),
          email: z.string().nullable().optional(),
          mobileNumber: z.string().nullable().optional(),
        }),
      ),
    }),
  ),
});
const ExternalContacts = z.object({
  contactPointsList: z.array(
    z.object({
      externalIdentity: z.string(),
      email: z.string().nullable().optional(),
      mobileNumber: z.string().nullable().optional(),
    }),
  ),
});
const Names = z.object({
  partyNames: z.array(
    z.object({ ssn: z.string().nullable(), orgNo: z.string().nullable(), name: z.string().nullable() }),
  ),
});
const Decisions = z.object({ decisions: z.array(z.object({ userId: z.number(), permit: z.boolean() })) });

export type PersonContact = z.infer<typeof PersonContacts>['contactPointsList'][number];
export type OrgAddress = z.infer<typeof OrgAddresses>['contactPointsList'][number];
export type OrgUserContacts = z.infer<typeof UserContacts>['contactPointsList'][number];
export type ExternalContact = z.infer<typeof ExternalContacts>['contactPointsList'][number];

export class RegistryClient {
  private readonly policy;

  constructor(private readonly opts: RegistryClientOptions) {
    const breaker = circuitBreaker(
      handleWhen((e) => e instanceof Transient || e instanceof TaskCancelledError),
      {
        halfOpenAfter: opts.breakerHalfOpenAfterMs,
        breaker: new ConsecutiveBreaker(opts.breakerThreshold),
      },
    );
    this.policy = wrap(breaker, timeout(opts.timeoutMs, TimeoutStrategy.Aggressive));
  }

  private async post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      const answer = await this.call(path, body, schema);
      outcome = 'ok';
      return answer;
    } finally {
      this.opts.observe?.((performance.now() - started) / 1000, outcome);
    }
  }

  private async call<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    try {
      // a signal of this call's own: without one, cockatiel hangs every call's timeout on one shared
      // signal, and more than ten calls at once made Node warn of a possible memory leak
      // (MaxListenersExceededWarning; the listeners are removed, it was the concurrency alone)
      const own = new AbortController();
      return await this.policy.execute(async ({ signal }) => {
        let res: Response;
        try {
          res = await fetch(`${this.opts.baseUrl}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify(body),
            signal,
          });
        } catch (err) {
          throw new Transient(`${path}: ${(err as Error).message}`);
        }
        if (res.status >= 500 || res.status === 429 || res.status === 408) {
          throw new Transient(`${path} answered ${res.status}`);
        }
        if (!res.ok)
          throw permanent('DEPENDENCY_REJECTED', `${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        const parsed = schema.safeParse(await res.json().catch(() => null));
        if (!parsed.success) throw new Transient(`${path} answered in an unexpected shape`);
        return parsed.data;
      }, own.signal);
    } catch (err) {
      if (err instanceof PipelineError) throw err;
      if (err instanceof BrokenCircuitError) {
        throw retriable(
          'DEPENDENCY_UNAVAILABLE',
          `registry circuit open (${path}): not calling until it recovers`,
          err,
        );
      }
      if (err instanceof TaskCancelledError) {
        throw retriable('DEPENDENCY_UNAVAILABLE', `${path}: no answer in ${this.opts.timeoutMs} ms`, err);
      }
      throw retriable('DEPENDENCY_UNAVAILABLE', (err as Error).message, err);
    }
  }

  async persons(nationalIdentityNumbers: string[], useStaleContactInfo: boolean): Promise<PersonContact[]> {
    if (nationalIdentityNumbers.length === 0) return [];
    const r = await this.post(
      '/profile/api/v1/users/contactpoint/lookup',
      { nationalIdentityNumbers, useStaleContactInfo },
      PersonContacts,
    );
    return r.contactPointsList;
  }

  async organizations(organizationNumbers: string[]): Promise<OrgAddress[]> {
    if (organizationNumbers.length === 0) return [];
    const r = await this.post(
      '/profile/api/v1/organizations/notificationaddresses/lookup',
      { organizationNumbers },
      OrgAddresses,
    );
    return r.contactPointsList;
  }

  /** `resourceId` without the urn:altinn:resource: prefix, as Profile expects it */
  async userContacts(organizationNumbers: string[], resourceId: string): Promise<OrgUserContacts[]> {
    if (organizationNumbers.length === 0) return [];
    const r = await this.post(
      '/profile/api/v1/units/contactpoint/lookup',
      { organizationNumbers, resourceId },
      UserContacts,
    );
    return r.contactPointsList;
  }

  async externalIdentities(externalIdentities: string[]): Promise<ExternalContact[]> {
    if (externalIdentities.length === 0) return [];
    const r = await this.post('/profile/api/v1/users/contactpoint/lookupsi', { externalIdentities }, ExternalContacts);
    return r.contactPointsList;
  }

  async names(parties: ({ ssn: string } | { orgNo: string })[]): Promise<Map<string, string>> {
    if (parties.length === 0) return new Map();
    const r = await this.post('/register/api/v1/parties/nameslookup', { parties }, Names);
    const out = new Map<string, string>();
    for (const p of r.partyNames) if (p.name) out.set(p.ssn ?? p.orgNo ?? '', p.name);
    return out;
  }

  /** userIds of the organisation who may perform `action` on `resourceId` */
  async permitted(
    organizationNumber: string,
    resourceId: string,
    action: string,
    userIds: number[],
  ): Promise<Set<number>> {
    if (userIds.length === 0) return new Set();
    const r = await this.post(
      '/authorization/api/v1/resource-rights/decide',
      { organizationNumber, resourceId, action, userIds },
      Decisions,
    );
    return new Set(r.decisions.filter((d) => d.permit).map((d) => d.userId));
  }
}
