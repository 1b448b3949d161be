/**
 * Registry simulator: the national registries the pipeline looks recipients up in, over HTTP,
 * in the shapes the production adapters call (Altinn Profile, Register and a resource-rights
 * decision point). Seeded from a file; tests add their own records and switch outages on
 * through /admin so they never depend on each other's data.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';

const Person = z.object({
  nationalIdentityNumber: z.string().regex(/^\d{11}$/),
  userId: z.number().int().optional(),
  name: z.string(),
  email: z.string().nullable().default(null),
  mobileNumber: z.string().nullable().default(null),
  isReserved: z.boolean().default(false),
});

const UserContact = z.object({
  userId: z.number().int(),
  nationalIdentityNumber: z.string().regex(/^\d{11}$/),
  name: z.string().optional(),
  email: z.string().nullable().default(null),
  mobileNumber: z.string().nullable().default(null),
  /** resourceId (without the urn:altinn:resource: prefix) → actions the user may perform */
  rights: z.record(z.string(), z.array(z.string())).default({}),
});

const Organization = z.object({
  organizationNumber: z.string().regex(/^\d{9}$/),
  partyId: z.number().int().optional(),
  name: z.string(),
  emailList: z.array(z.string()).default([]),
  mobileNumberList: z.array(z.string()).default([]),
  userContacts: z.array(UserContact).default([]),
});

const ExternalIdentity = z.object({
  externalIdentity: z.string(),
  name: z.string().optional(),
  email: z.string().nullable().default(null),
  mobileNumber: z.string().nullable().default(null),
});

export const Seed = z.object({
  persons: z.array(Person).default([]),
  organizations: z.array(Organization).default([]),
  externalIdentities: z.array(ExternalIdentity).default([]),
});
export type Seed = z.infer<typeof Seed>;

interface Outage {
  status: number;
  remaining: number; // -1: until cleared
  delayMs: number;
}

export function createRegistrySimulator(seed: Seed) {
  const persons = new Map(seed.persons.map((p) => [p.nationalIdentityNumber, p]));
  const orgs = new Map(seed.organizations.map((o) => [o.organizationNumber, o]));
  const externals = new Map(seed.externalIdentities.map((e) => [e.externalIdentity, e]));
  let outage: Outage | null = null;
  const calls = new Map<string, number>();

  const app = express();
  app.use(express.json({ limit: '1mb' }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', persons: persons.size, organizations: orgs.size });
  });

  // Test control: add records, switch an outage on or off, read call counts.
  app.post('/admin/seed', (req, res) => {
    const parsed = Seed.safeParse(req.body);
    if (!parsed.success) return void res.status(400).json({ error: parsed.error.issues });
    for (const p of parsed.data.persons) persons.set(p.nationalIdentityNumber, p);
    for (const o of parsed.data.organizations) orgs.set(o.organizationNumber, o);
    for (const e of parsed.data.externalIdentities) externals.set(e.externalIdentity, e);
    res.json({ persons: persons.size, organizations: orgs.size });
  });
  app.post('/admin/outage', (req, res) => {
    const body = z
      .object({
        status: z.number().int().min(400).max(599).default(503),
        count: z.number().int().default(-1),
        delayMs: z.number().int().min(0).default(0),
      })
      .safeParse(req.body ?? {});
    if (!body.success) return void res.status(400).json({ error: body.error.issues });
    outage = { status: body.data.status, remaining: body.data.count, delayMs: body.data.delayMs };
    res.json(outage);
  });
  app.delete('/admin/outage', (_req, res) => {
    outage = null;
    res.json({});
  });
  app.get('/admin/calls', (_req, res) => {
    res.json(Object.fromEntries(calls));
  });

  // Outage and call counting apply to every registry endpoint below.
  app.use(async (req: Request, res: Response, next) => {
    calls.set(req.path, (calls.get(req.path) ?? 0) + 1);
    if (!outage || outage.remaining === 0) return next();
    if (outage.remaining > 0) outage.remaining--;
    if (outage.delayMs > 0) await new Promise((r) => setTimeout(r, outage?.delayMs ?? 0));
    res.status(outage.status).json({ title: 'Simulated registry outage' });
  });

  const stringList = (key: string) => z.object({ [key]: z.array(z.string()) }).passthrough();

  const badRequest = (res: Response, error: z.ZodError) =>
    res.status(400).json({ title: 'Bad request', errors: error.issues });

  // Altinn Profile: person contact points (KRR copy).
  app.post('/profile/api/v1/users/contactpoint/lookup', (req, res) => {
    const body = stringList('nationalIdentityNumbers').safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const list = (body.data.nationalIdentityNumbers as string[]).flatMap((nin) => {
      const p = persons.get(nin);
      return p
        ? [
            {
              userId: p.userId ?? 0,
              nationalIdentityNumber: p.nationalIdentityNumber,
              isReserved: p.isReserved,
              mobileNumber: p.mobileNumber,
              email: p.email,
            },
          ]
        : [];
    });
    res.json({ contactPointsList: list });
  });

  // Altinn Profile: official notification addresses of organisations.
  app.post('/profile/api/v1/organizations/notificationaddresses/lookup', (req, res) => {
    const body = stringList('organizationNumbers').safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const list = (body.data.organizationNumbers as string[]).flatMap((orgNo) => {
      const o = orgs.get(orgNo);
      return o
        ? [
            {
              organizationNumber: o.organizationNumber,
              partyId: o.partyId ?? 0,
              emailList: o.emailList,
              mobileNumberList: o.mobileNumberList,
            },
          ]
        : [];
    });
    res.json({ contactPointsList: list });
  });

  // Altinn Profile: user-registered contact points for organisations and a resource.
  app.post('/profile/api/v1/units/contactpoint/lookup', (req, res) => {
    const body = z.object({ organizationNumbers: z.array(z.string()), resourceId: z.string() }).safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const list = body.data.organizationNumbers.flatMap((orgNo) => {
      const o = orgs.get(orgNo);
      return o
        ? [
            {
              organizationNumber: o.organizationNumber,
              partyId: o.partyId ?? 0,
              userContactPoints: o.userContacts.map((u) => ({
                userId: u.userId,
                nationalIdentityNumber: u.nationalIdentityNumber,
                email: u.email,
                mobileNumber: u.mobileNumber,
              })),
            },
          ]
        : [];
    });
    res.json({ contactPointsList: list });
  });

  // Altinn Profile: self-identified / ID-porten email users.
  app.post('/profile/api/v1/users/contactpoint/lookupsi', (req, res) => {
    const body = stringList('externalIdentities').safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const list = (body.data.externalIdentities as string[]).flatMap((id) => {
      const e = externals.get(id);
      return e ? [{ externalIdentity: e.externalIdentity, email: e.email, mobileNumber: e.mobileNumber }] : [];
    });
    res.json({ contactPointsList: list });
  });

  // Altinn Register: names for the $recipientName$ keyword.
  app.post('/register/api/v1/parties/nameslookup', (req, res) => {
    const body = z
      .object({ parties: z.array(z.object({ ssn: z.string().optional(), orgNo: z.string().optional() })) })
      .safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const partyNames = body.data.parties.map((p) => ({
      ssn: p.ssn ?? null,
      orgNo: p.orgNo ?? null,
      name: (p.ssn ? persons.get(p.ssn)?.name : p.orgNo ? orgs.get(p.orgNo)?.name : undefined) ?? null,
    }));
    res.json({ partyNames });
  });

  // Resource rights: which of an organisation's users may perform an action on a resource.
  // (Production asks the Authorization PDP with XACML; the adapter's contract is this shape.)
  app.post('/authorization/api/v1/resource-rights/decide', (req, res) => {
    const body = z
      .object({
        organizationNumber: z.string(),
        resourceId: z.string(),
        action: z.string().default('read'),
        userIds: z.array(z.number().int()),
      })
      .safeParse(req.body);
    if (!body.success) return void badRequest(res, body.error);
    const { organizationNumber, action, userIds } = body.data;
    const resourceId = body.data.resourceId.replace(/^urn:altinn:resource:/, '');
    const contacts = orgs.get(organizationNumber)?.userContacts ?? [];
    const decisions = userIds.map((userId) => {
      const actions = contacts.find((u) => u.userId === userId)?.rights[resourceId] ?? [];
      return { userId, permit: actions.includes(action) };
    });
    res.json({ decisions });
  });

  return app;
}
