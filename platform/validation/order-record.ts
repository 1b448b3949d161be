import type { NotificationOrder } from '../schemas/generated/order.ts';
import {
  isAbsoluteUri,
  isHttpUri,
  isValidEmail,
  isValidExternalIdentity,
  isValidMobileNumber,
  isValidNationalIdentityNumber,
  isValidOrganizationNumber,
} from './rules.ts';
import { allowedMimeType, filenameProblem, isAbsoluteHttpsUrl } from './attachments.ts';

/**
 * A record's ids as the rest of the platform needs them: the canonical lowercase UUID text (as
 * Java's `UUID.toString()` and Python's `str(uuid)` write it). Status events carry them in
 * fields of Avro's `uuid` logical type, and the API finds orders by them, so a record with any
 * other id is refused before anything is written about it.
 */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function orderIdentityProblems(o: Pick<NotificationOrder, 'orderId' | 'orderChainId'>): string[] {
  const p: string[] = [];
  if (!CANONICAL_UUID.test(o.orderId)) p.push('orderId is not a lowercase canonical UUID');
  if (!CANONICAL_UUID.test(o.orderChainId)) p.push('orderChainId is not a lowercase canonical UUID');
  return p;
}

/**
 * The Kafka header the gateway puts on the instant orders it writes together with their
 * notification (one transaction), so the pipeline knows they are dispatched already. An instant
 * order without it came from elsewhere and is refused: instant orders are placed through the
 * gateway's instant endpoints.
 */
export const DISPATCHED_HEADER = 'x-notifications-dispatched';

/**
 * The business rules an order record must keep, whoever published it. The gateway's validation
 * is stricter and answers in the API's words; this check is what protects the pipeline from a
 * direct producer's record that is well-formed Avro but breaks a rule. Returns every problem.
 */
export function orderRecordProblems(o: NotificationOrder): string[] {
  const p: string[] = orderIdentityProblems(o);
  if (!o.creator.trim()) p.push('creator is empty');
  if (o.recipients.length === 0) p.push('recipients is empty');
  o.recipients.forEach((r, i) => {
    const at = `recipients[${i}]`;
    if (!r.emailAddress && !r.mobileNumber && !r.nationalIdentityNumber && !r.organizationNumber && !r.externalIdentity)
      p.push(`${at} has no address or identifier`);
    if (r.emailAddress && !isValidEmail(r.emailAddress)) p.push(`${at}.emailAddress is not a valid email address`);
    if (r.mobileNumber && !isValidMobileNumber(r.mobileNumber))
      p.push(`${at}.mobileNumber is not a valid mobile number`);
    if (r.nationalIdentityNumber && !isValidNationalIdentityNumber(r.nationalIdentityNumber))
      p.push(`${at}.nationalIdentityNumber must be 11 digits`);
    if (r.organizationNumber && !isValidOrganizationNumber(r.organizationNumber))
      p.push(`${at}.organizationNumber must be 9 digits`);
    if (r.externalIdentity && !isValidExternalIdentity(r.externalIdentity))
      p.push(`${at}.externalIdentity is not a valid external identity URN`);
  });
  const needsEmail = o.notificationChannel !== 'Sms';
  const needsSms = o.notificationChannel !== 'Email';
  if (needsEmail && !o.emailTemplate) p.push(`emailTemplate is required for ${o.notificationChannel}`);
  if (needsSms && !o.smsTemplate) p.push(`smsTemplate is required for ${o.notificationChannel}`);
  if (o.emailTemplate && (!o.emailTemplate.subject || !o.emailTemplate.body))
    p.push('emailTemplate needs a subject and a body');
  if (o.emailTemplate && !isValidEmail(o.emailTemplate.fromAddress)) p.push('emailTemplate.fromAddress is not valid');
  if (o.smsTemplate && !o.smsTemplate.body) p.push('smsTemplate needs a body');
  if (o.conditionEndpoint && !(isAbsoluteUri(o.conditionEndpoint) && isHttpUri(o.conditionEndpoint)))
    p.push('conditionEndpoint must be an absolute http or https URI');
  p.push(...composedProblems(o));
  return p;
}

/**
 * A composed order is one email with files: channel Email, one recipient by email address, at
 * least one file, each with a name and MIME type the gateway would accept and an HTTPS URL
 * (whose host send-email checks against ATTACHMENT_HOSTS before it fetches); no other order
 * carries files.
 */
function composedProblems(o: NotificationOrder): string[] {
  if (o.type !== 'Composed')
    return o.attachments !== null ? [`attachments are only for orders of type Composed, not ${o.type}`] : [];
  const p: string[] = [];
  if (o.notificationChannel !== 'Email') p.push('a Composed order must have notificationChannel Email');
  if (o.recipients.length !== 1 || !o.recipients[0]!.emailAddress)
    p.push('a Composed order must have exactly one recipient, by email address');
  if (!o.attachments || o.attachments.length === 0) p.push('a Composed order must carry at least one attachment');
  (o.attachments ?? []).forEach((a, i) => {
    const at = `attachments[${i}]`;
    if (!a.filename.trim() || filenameProblem(a.filename)) p.push(`${at}.filename is not a valid file name`);
    if (!allowedMimeType(a.mimeType)) p.push(`${at}.mimeType is not an allowed MIME type`);
    if (!isAbsoluteHttpsUrl(a.sasUrl)) p.push(`${at}.sasUrl is not an absolute HTTPS URL`);
  });
  return p;
}
