import { z } from 'zod';
import { int } from '../../platform/config-kit.ts';
import { DEFAULT_PROVIDER, parseRoutes, providersSchema, type SmsProvider } from './routes.ts';

/** send-sms: the SMSC and the SMPP session (and the ledger, shared with send-email). */
export const sendSmsOptions = z.object({
  /** the SMSC of send-sms */
  SMSC_HOST: z.string().optional(),
  SMSC_PORT: int(2775).pipe(z.number().min(1).max(65535)),
  SMPP_SYSTEM_ID: z.string().default('notifications'),
  SMPP_PASSWORD: z.string().default(''),
  SMPP_SYSTEM_TYPE: z.string().optional(),
  /** submit_sm in flight at once for the SMSC account, shared by every send-sms instance */
  SMPP_WINDOW: int(10).pipe(z.number().min(1)),
  /**
   * window places only the instant lane may take (its SMS never wait for a place behind a
   * campaign's); the queue's SMS use the rest. Default: a fifth of SMPP_WINDOW, rounded down
   */
  SMPP_INSTANT_RESERVE: z.coerce.number().int().min(0).optional(),
  /** submit_sm per second for the SMSC account (its contracted TPS), shared by every instance */
  SMPP_TPS: int(100).pipe(z.number().min(1)),
  SMPP_ENQUIRE_LINK_MS: int(30_000).pipe(z.number().min(1_000)),
  /**
   * the radix of the message id in a delivery receipt's text (`id:…`), read only when the receipt
   * has no receipted_message_id TLV: 16 (as submit_sm_resp gives it, SMPP 3.4 appendix B) or 10
   * (some SMSCs write it in decimal there)
   */
  SMPP_RECEIPT_TEXT_ID_RADIX: z
    .enum(['16', '10'])
    .default('16')
    .transform((v) => (v === '10' ? 10 : 16) as 16 | 10),
  /** how long a submit_sm waits for its response before it counts as lost, ms */
  SMPP_RESPONSE_TIMEOUT_MS: int(10_000).pipe(z.number().min(100)),
  /**
   * several SMSC accounts, as a JSON array of {name, host, port, systemId, password, systemType?,
   * window, tps, instantReserve?}; instead of SMSC_HOST and the account settings above
   */
  SMPP_PROVIDERS: z.preprocess((v) => (v === '' ? undefined : v), providersSchema.optional()),
  /** which providers a number goes to, in order: `+47=a,b;*=b` (default: every number to every provider, in order) */
  SMS_ROUTES: z.string().default(''),
  /** accepted submits with no receipt for this long take a provider out of its routes, ms */
  SMS_ROUTE_RECEIPT_SILENCE_MS: int(300_000).pipe(z.number().min(1_000)),
  /** how long a provider taken out of its routes stays out before it is tried again, ms */
  SMS_ROUTE_COOLDOWN_MS: int(30_000).pipe(z.number().min(100)),
});

type SendSmsOptions = z.infer<typeof sendSmsOptions>;

/** The SMSC accounts send-sms binds: SMPP_PROVIDERS, else the one SMSC_HOST names (`default`); none without either. */
export function smsProviders(c: SendSmsOptions): SmsProvider[] {
  if (c.SMPP_PROVIDERS) return c.SMPP_PROVIDERS;
  if (!c.SMSC_HOST) return [];
  return [
    {
      name: DEFAULT_PROVIDER,
      host: c.SMSC_HOST,
      port: c.SMSC_PORT,
      systemId: c.SMPP_SYSTEM_ID,
      password: c.SMPP_PASSWORD,
      systemType: c.SMPP_SYSTEM_TYPE,
      window: c.SMPP_WINDOW,
      tps: c.SMPP_TPS,
      instantReserve: instantReserve(c),
    },
  ];
}

/** What is wrong with the SMS routing settings taken together (lines for the configuration error). */
export function smsRoutingProblems(c: SendSmsOptions): string[] {
  const problems: string[] = [];
  if (c.SMPP_PROVIDERS && c.SMSC_HOST)
    problems.push('  SMPP_PROVIDERS: set, and SMSC_HOST too: name the SMSC in one of them');
  const names = smsProviders(c).map((p) => p.name);
  if (c.SMS_ROUTES.trim() !== '' && names.length === 0) problems.push('  SMS_ROUTES: set, but no provider is');
  else for (const p of parseRoutes(c.SMS_ROUTES, names).problems) problems.push(`  SMS_ROUTES: ${p}`);
  return problems;
}

/** The window places reserved for the instant lane (SMPP_INSTANT_RESERVE, or a fifth of the window). */
export const instantReserve = (c: { SMPP_WINDOW: number; SMPP_INSTANT_RESERVE?: number | undefined }) =>
  c.SMPP_INSTANT_RESERVE ?? Math.floor(c.SMPP_WINDOW / 5);
