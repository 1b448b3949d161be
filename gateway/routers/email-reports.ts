import express, { type NextFunction, type Request, type Response } from 'express';
import { sameSecret } from '../http/api-key.ts';
import type { OutboundRecord, PlainProducer } from '../../platform/kafka/adapter.ts';
import type { DeliveryRefs } from '../../platform/redis/delivery-refs.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import { jsonBody } from '../http/body.ts';
import { sendProblem } from '../problems.ts';

export interface EmailReportDeps {
  /** off (404) when no access key is configured */
  config?: { accessKey: string; refs: DeliveryRefs };
  producer: Pick<PlainProducer, 'send'>;
  codec: AvroCodec;
  topicPrefix: string;
  clock: () => number;
  /** told of each email reported Delivered (its requested send time): for the metrics */
  delivered?: (requestedSendTime: number | undefined) => void;
}

interface EventGridEvent {
  eventType?: string;
  data?: {
    validationCode?: string;
    messageId?: string;
    status?: string | null;
    deliveryStatusDetails?: { statusMessage?: string };
  };
}

/** Event Grid's email delivery status as the email lifecycle (reference §6.2 step 9). */
export function emailReportStatus(status: string | null | undefined): StatusEvent['status'] {
  switch (status) {
    case 'Delivered':
      return 'Email_Delivered';
    case 'Bounced':
      return 'Email_Failed_Bounced';
    case 'FilteredSpam':
      return 'Email_Failed_FilteredSpam';
    case 'Quarantined':
      return 'Email_Failed_Quarantined';
    case 'Suppressed':
      return 'Email_Failed_SuppressedRecipient';
    default:
      return 'Email_Failed';
  }
}

/**
 * `POST /notifications/email/api/v1/reports?accesskey=` (Azure Event Grid's shape, as the
 * reference's K-era webhook), outside the API base: `accesskey` must match (checked before a
 * byte of the body is read); a subscription handshake is answered; each
 * EmailDeliveryReportReceived becomes a status event of its notification, found by the
 * Message-ID send-email recorded, which is then kept a day as a bare mark (a report sent again
 * is answered 200 and changes nothing). Unknown ids answer 404 so the provider tries again later.
 */
export function emailReportsRouter(d: EmailReportDeps) {
  const router = express.Router();
  const accessKey = (req: Request, res: Response, next: NextFunction) => {
    if (!d.config) return sendProblem(res, { status: 404, title: 'Not Found' });
    if (!sameSecret(String(req.query.accesskey ?? ''), d.config.accessKey)) {
      return void res.status(401).json({ error: 'Unauthorized client' });
    }
    next();
  };
  router.post(
    '/notifications/email/api/v1/reports',
    accessKey,
    jsonBody(1024 * 1024, () => true),
    async (req, res) => {
      const refs = d.config!.refs;
      const events = Array.isArray(req.body) ? (req.body as EventGridEvent[]) : [req.body as EventGridEvent];
      const validation = events.find((e) => e?.eventType === 'Microsoft.EventGrid.SubscriptionValidationEvent');
      if (validation) return res.json({ validationResponse: validation.data?.validationCode ?? '' });
      const out: OutboundRecord[] = [];
      const reported: string[] = [];
      const unknown: string[] = [];
      const delivered: (number | undefined)[] = [];
      for (const e of events) {
        if (e?.eventType !== 'Microsoft.Communication.EmailDeliveryReportReceived') continue;
        const messageId = String(e.data?.messageId ?? '');
        const ref = messageId ? await refs.get(messageId) : null;
        if (!ref) {
          unknown.push(messageId);
          continue;
        }
        // its final report is in already: the view keeps the first final status
        if (ref === 'reported') continue;
        const event: StatusEvent = {
          ...orderStatus({ orderId: ref.orderId, creator: ref.creator }, emailReportStatus(e.data?.status), d.clock()),
          notificationId: ref.notificationId,
          channel: 'Email',
          destination: ref.destination,
          description: e.data?.deliveryStatusDetails?.statusMessage ?? null,
          gatewayReference: messageId,
          expiresAt: ref.expiresAt,
        };
        out.push({
          topic: topicName(d.topicPrefix, 'status'),
          key: ref.orderId,
          value: await d.codec.encode('status', event),
        });
        if (event.status === 'Email_Delivered') delivered.push(ref.requestedSendTime);
        reported.push(messageId);
      }
      if (out.length > 0) await d.producer.send(out);
      // every report is final (emailReportStatus): the refs are let go once Kafka has the events
      // (only memory is at stake if that fails: the ref stays until its own expiry)
      await Promise.all(reported.map((id) => refs.reported(id))).catch(() => undefined);
      for (const t of delivered) d.delivered?.(t);
      if (unknown.length > 0) {
        return sendProblem(res, { status: 404, title: 'Not Found', detail: `unknown message ids: ${unknown.length}` });
      }
      res.status(200).json({ accepted: out.length });
    },
  );
  return router;
}
