/**
 * The OpenAPI 3.1 document the gateway serves at /openapi.json (and renders at /docs). The
 * contract test validates real responses against the schemas here, so the document cannot
 * drift from what the gateway answers.
 */
const str = { type: 'string' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});

const channels = { type: 'string', enum: ['Email', 'Sms', 'EmailPreferred', 'SmsPreferred', 'EmailAndSms'] };
const fallback = {
  type: 'boolean',
  description:
    'Extension, not in Altinn: with channelSchema EmailPreferred or SmsPreferred, when every notification on the ' +
    'preferred channel finally fails (bounced, undelivered, expired, ...), send once on the other channel. ' +
    "Absent: the sender's configured default (FALLBACK_CREATORS), else off.",
};
const emailSending = {
  senderEmailAddress: str,
  subject: str,
  body: str,
  contentType: { type: 'string', enum: ['Plain', 'Html'] },
  sendingTimePolicy: { type: 'string', enum: ['Anytime'] },
};
const lifecycle = { type: 'string', pattern: '^(Order|Email|SMS)_[A-Za-z_]+$' };

export const SCHEMAS = {
  ProblemDetails: {
    type: 'object',
    properties: { type: str, title: str, status: int, detail: str, errorCode: str },
    required: ['title', 'status'],
  },
  ValidationProblemDetails: {
    type: 'object',
    properties: {
      type: str,
      title: str,
      status: { const: 400 },
      errors: { type: 'object', additionalProperties: { type: 'array', items: str } },
    },
    required: ['title', 'status', 'errors'],
  },
  EmailSendingOptions: obj(emailSending, ['subject', 'body']),
  SmsSendingOptions: obj(
    { sender: str, body: str, sendingTimePolicy: { type: 'string', enum: ['Daytime', 'Anytime'] } },
    ['body'],
  ),
  NotificationRecipient: {
    type: 'object',
    description: 'Exactly one of the five recipient kinds.',
    properties: {
      recipientEmail: obj({ emailAddress: str, emailSettings: ref('EmailSendingOptions') }, [
        'emailAddress',
        'emailSettings',
      ]),
      recipientSms: obj({ phoneNumber: str, smsSettings: ref('SmsSendingOptions') }, ['phoneNumber', 'smsSettings']),
      recipientPerson: obj(
        {
          nationalIdentityNumber: str,
          channelSchema: channels,
          emailSettings: ref('EmailSendingOptions'),
          smsSettings: ref('SmsSendingOptions'),
          ignoreReservation: bool,
          useStaleContactInformation: bool,
          resourceId: str,
          resourceAction: str,
          fallbackOnDeliveryFailure: fallback,
        },
        ['nationalIdentityNumber'],
      ),
      recipientOrganization: obj(
        {
          orgNumber: str,
          channelSchema: channels,
          emailSettings: ref('EmailSendingOptions'),
          smsSettings: ref('SmsSendingOptions'),
          resourceId: str,
          resourceAction: str,
          fallbackOnDeliveryFailure: fallback,
        },
        ['orgNumber', 'channelSchema'],
      ),
      recipientExternalIdentity: obj(
        {
          externalIdentity: str,
          channelSchema: channels,
          emailSettings: ref('EmailSendingOptions'),
          smsSettings: ref('SmsSendingOptions'),
          resourceId: str,
          resourceAction: str,
          fallbackOnDeliveryFailure: fallback,
        },
        ['externalIdentity'],
      ),
    },
    minProperties: 1,
    maxProperties: 1,
  },
  NotificationOrderChainRequest: obj(
    {
      idempotencyId: str,
      sendersReference: str,
      requestedSendTime: dateTime,
      conditionEndpoint: { type: 'string', format: 'uri' },
      dialogportenAssociation: obj({ dialogId: str, transmissionId: str }),
      recipient: ref('NotificationRecipient'),
      reminders: {
        type: 'array',
        items: obj(
          {
            sendersReference: str,
            conditionEndpoint: { type: 'string', format: 'uri' },
            delayDays: { type: 'integer', minimum: 1 },
            requestedSendTime: dateTime,
            recipient: ref('NotificationRecipient'),
          },
          ['recipient'],
        ),
      },
    },
    ['idempotencyId', 'recipient'],
  ),
  InstantSmsRequest: obj(
    {
      idempotencyId: str,
      sendersReference: str,
      recipientSms: obj(
        {
          phoneNumber: str,
          timeToLiveInSeconds: { type: 'integer', minimum: 60, maximum: 172800 },
          smsSettings: obj({ sender: str, body: str }, ['body']),
        },
        ['phoneNumber', 'timeToLiveInSeconds', 'smsSettings'],
      ),
    },
    ['idempotencyId', 'recipientSms'],
  ),
  InstantSmsLegacyRequest: obj(
    {
      idempotencyId: str,
      sendersReference: str,
      recipient: obj(
        {
          recipientSms: obj(
            {
              phoneNumber: str,
              timeToLiveInSeconds: { type: 'integer', minimum: 60, maximum: 172800 },
              smsSettings: obj({ sender: str, body: str }, ['body']),
            },
            ['phoneNumber', 'timeToLiveInSeconds', 'smsSettings'],
          ),
        },
        ['recipientSms'],
      ),
    },
    ['idempotencyId', 'recipient'],
  ),
  InstantEmailRequest: obj(
    {
      idempotencyId: str,
      sendersReference: str,
      recipientEmail: obj({ emailAddress: str, emailSettings: ref('EmailSendingOptions') }, [
        'emailAddress',
        'emailSettings',
      ]),
    },
    ['idempotencyId', 'recipientEmail'],
  ),
  ComposedEmailRequest: obj(
    {
      idempotencyId: str,
      sendersReference: str,
      requestedSendTime: dateTime,
      conditionEndpoint: str,
      dialogportenAssociation: obj({ dialogId: str, transmissionId: str }),
      recipient: obj(
        {
          emailAddress: str,
          emailSettings: obj(
            {
              ...emailSending,
              attachments: {
                type: 'array',
                minItems: 1,
                description:
                  'Files fetched at send time from their read SAS URLs (HTTPS, an allowed storage host, se/sp/sig/sr=b, ' +
                  'valid 15 minutes past requestedSendTime) and attached; MIME types from the ACS allow-list.',
                items: obj({ filename: str, mimeType: str, sasUrl: str }, ['filename', 'mimeType', 'sasUrl']),
              },
            },
            ['subject', 'body', 'attachments'],
          ),
        },
        ['emailAddress', 'emailSettings'],
      ),
    },
    ['idempotencyId', 'recipient'],
  ),
  NotificationOrderChainResponse: obj(
    {
      notificationOrderId: uuid,
      notification: obj(
        {
          shipmentId: uuid,
          sendersReference: str,
          reminders: { type: 'array', items: obj({ shipmentId: uuid, sendersReference: str }, ['shipmentId']) },
        },
        ['shipmentId'],
      ),
    },
    ['notificationOrderId', 'notification'],
  ),
  Recipient: obj({
    emailAddress: str,
    mobileNumber: str,
    organizationNumber: str,
    nationalIdentityNumber: str,
    isReserved: bool,
  }),
  NotificationOrderRequest: obj(
    {
      sendersReference: str,
      requestedSendTime: dateTime,
      conditionEndpoint: str,
      recipients: { type: 'array', items: ref('Recipient') },
      ignoreReservation: bool,
      resourceId: str,
      resourceAction: str,
      notificationChannel: channels,
      emailTemplate: obj({ fromAddress: str, subject: str, body: str, contentType: { enum: ['Plain', 'Html'] } }),
      smsTemplate: obj({ senderNumber: str, body: str }),
    },
    ['recipients', 'notificationChannel'],
  ),
  NotificationOrderRequestResponse: obj(
    {
      orderId: uuid,
      recipientLookup: obj(
        {
          status: { type: 'string', enum: ['Success', 'PartialSuccess', 'Failed'] },
          isReserved: { type: 'array', items: str },
          missingContact: { type: 'array', items: str },
        },
        ['status'],
      ),
    },
    ['orderId'],
  ),
  NotificationOrder: obj(
    {
      id: uuid,
      sendersReference: str,
      requestedSendTime: dateTime,
      creator: str,
      created: dateTime,
      notificationChannel: channels,
      ignoreReservation: bool,
      resourceId: str,
      resourceAction: str,
      conditionEndpoint: str,
      recipients: { type: 'array', items: ref('Recipient') },
      emailTemplate: obj({ fromAddress: str, subject: str, body: str, contentType: { enum: ['Plain', 'Html'] } }),
      smsTemplate: obj({ senderNumber: str, body: str }),
      links: obj({ self: str, status: str }, ['self', 'status']),
    },
    ['id', 'requestedSendTime', 'creator', 'created', 'notificationChannel', 'recipients'],
  ),
  NotificationOrderWithStatus: {
    type: 'object',
    properties: {
      id: uuid,
      processingStatus: obj({ status: str, description: str, lastUpdate: dateTime }, ['status', 'lastUpdate']),
      notificationsStatusSummary: obj({
        email: obj({ links: obj({ self: str }), generated: int, succeeded: int }),
        sms: obj({ links: obj({ self: str }), generated: int, succeeded: int }),
      }),
    },
    required: ['id', 'processingStatus', 'notificationsStatusSummary'],
  },
  NotificationSummary: obj(
    {
      orderId: uuid,
      sendersReference: str,
      generated: int,
      succeeded: int,
      notifications: {
        type: 'array',
        items: obj(
          {
            id: uuid,
            succeeded: bool,
            recipient: ref('Recipient'),
            sendStatus: obj({ status: str, description: str, lastUpdate: dateTime }, ['status', 'lastUpdate']),
          },
          ['id', 'succeeded', 'recipient', 'sendStatus'],
        ),
      },
    },
    ['orderId', 'generated', 'succeeded', 'notifications'],
  ),
  OrderChain: obj(
    {
      notificationOrderId: uuid,
      notification: ref('Shipment'),
      reminders: { type: 'array', items: ref('Shipment') },
    },
    ['notificationOrderId', 'reminders'],
  ),
  OrdersList: obj({ count: int, orders: { type: 'array', items: ref('NotificationOrder') } }, ['count', 'orders']),
  Shipment: obj(
    {
      shipmentId: uuid,
      sendersReference: str,
      type: { type: 'string', enum: ['Notification', 'Reminder', 'Instant', 'Composed'] },
      status: lifecycle,
      lastUpdate: dateTime,
      recipients: {
        type: 'array',
        items: obj({ type: { enum: ['Email', 'SMS'] }, destination: str, status: lifecycle, lastUpdate: dateTime }, [
          'type',
          'status',
          'lastUpdate',
        ]),
      },
      sequenceNumber: int,
    },
    ['shipmentId', 'type', 'status', 'lastUpdate', 'recipients'],
  ),
  DashboardNotification: obj(
    {
      shipmentId: uuid,
      creatorName: str,
      resourceId: str,
      sendersReference: str,
      requestedSendTime: dateTime,
      notificationChannel: channels,
      notificationType: { type: 'string', enum: ['Notification', 'Reminder', 'Instant', 'Composed'] },
      deliveryAttempts: {
        type: 'array',
        items: obj(
          {
            nationalIdentityNumber: str,
            organizationNumber: str,
            channel: { type: 'string', enum: ['email', 'sms'] },
            emailAddress: str,
            mobileNumber: str,
            result: str,
            resultTime: dateTime,
          },
          ['channel', 'result', 'resultTime'],
        ),
      },
    },
    ['shipmentId', 'creatorName', 'requestedSendTime', 'notificationType', 'deliveryAttempts'],
  ),
  MonthlyMetrics: obj(
    {
      month: int,
      year: int,
      metrics: {
        type: 'array',
        items: obj(
          {
            org: str,
            ordersCreated: int,
            emailNotificationsCreated: int,
            successfulEmailNotifications: int,
            smsNotificationsCreated: int,
            successfulSmsNotifications: int,
          },
          [
            'org',
            'ordersCreated',
            'emailNotificationsCreated',
            'successfulEmailNotifications',
            'smsNotificationsCreated',
            'successfulSmsNotifications',
          ],
        ),
      },
    },
    ['month', 'year', 'metrics'],
  ),
} as const;

const problem = (description: string, schema = 'ProblemDetails') => ({
  description,
  content: { 'application/problem+json': { schema: ref(schema) } },
});
const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
const common = {
  '400': problem('Validation failed, or the body cannot be read', 'ValidationProblemDetails'),
  '401': problem('No valid bearer token'),
  '403': problem('The token lacks the scope or an org'),
  '429': problem('Rate limit exceeded (see Retry-After)'),
  '503': problem('A dependency is unavailable (NOT-00004)'),
};
// what any route that reads a JSON body may answer besides
const bodyErrors = {
  '413': problem('The body is larger than the limit'),
  '415': problem('The body is not JSON (Content-Type)'),
};
const idParam = [{ name: 'id', in: 'path', required: true, schema: uuid }];
const jsonBody = (schema: string) => ({ required: true, content: { 'application/json': { schema: ref(schema) } } });
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Beyond the reference: makes a retry safe. The same key (per organisation) answers again with the first answer, and nothing is ordered twice. On endpoints with an idempotencyId it must equal it.',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};
const instant = (summary: string, schema: string) => ({
  post: {
    summary,
    parameters: [idempotencyKey],
    requestBody: jsonBody(schema),
    responses: {
      '201': ok('Dispatched', ref('NotificationOrderChainResponse')),
      '200': ok(
        'Already dispatched with this idempotencyId: the original answer',
        ref('NotificationOrderChainResponse'),
      ),
      '409': problem('The same idempotencyId is still being registered'),
      ...common,
      ...bodyErrors,
    },
  },
});
/** What an order chain's POST answers (`/future/orders`, `/future/orders/composed-email`). */
const chainAnswers = () => ({
  '201': ok('Registered', ref('NotificationOrderChainResponse')),
  '200': ok('Already registered with this idempotencyId: the original answer', ref('NotificationOrderChainResponse')),
  '409': problem('The same idempotencyId is still being registered'),
  '499': problem('The client hung up before the order was stored (NOT-00002)'),
  ...common,
  ...bodyErrors,
});
const v1Order = (summary: string, schema: unknown) => ({
  summary,
  parameters: [idempotencyKey],
  requestBody: { required: true, content: { 'application/json': { schema } } },
  responses: {
    '202': ok('Accepted', ref('NotificationOrderRequestResponse')),
    '409': problem('The same Idempotency-Key is still being registered'),
    ...common,
    ...bodyErrors,
  },
});

/** A support dashboard lookup: the number in a header, the window in the query. */
const dashboard = (header: string, what: string) => ({
  get: {
    summary: `Support: every creator's notifications to ${what}, by requested send time in [from, to), latest first. Needs the scope altinn:notifications.support.admin (no org claim needed)`,
    security: [{ bearer: [] }],
    parameters: [
      { name: header, in: 'header', required: true, schema: str },
      {
        name: 'from',
        in: 'query',
        description: 'with a time zone; not in the future, nor over 10 years ago; default 7 days ago',
        schema: dateTime,
      },
      { name: 'to', in: 'query', description: 'with a time zone; not in the future; default now', schema: dateTime },
    ],
    responses: {
      '200': ok('The orders, each with its notifications to the recipient', {
        type: 'array',
        items: ref('DashboardNotification'),
      }),
      '400': common['400'],
      '401': common['401'],
      '403': problem('The token lacks the scope altinn:notifications.support.admin'),
      '429': common['429'],
      '499': problem('The client hung up while its lookup ran (NOT-00002)'),
      '503': common['503'],
    },
  },
});

/**
 * The OpenAPI document. Its servers are relative (to the document's own address), so the API
 * page works from whatever address it was opened at: an absolute `localhost` server made every
 * "Try it out" from `127.0.0.1` a cross-origin request, whose preflight the API refused (401).
 */
export function openApiDocument() {
  const root = [{ url: '/' }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'Notifications API',
      version: '1.0.0',
      description:
        'Order email and SMS notifications to people and organisations, and follow their status. Bearer JWT with scope altinn:serviceowner/notifications.create and an org claim, or an Altinn Platform Access Token (its issuer is the ordering organisation).',
    },
    servers: [{ url: '/notifications/api/v1' }],
    security: [{ bearer: [] }, { platformAccessToken: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        platformAccessToken: { type: 'apiKey', in: 'header', name: 'PlatformAccessToken' },
        metricsApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        metricsBasic: {
          type: 'http',
          scheme: 'basic',
          description: 'for a browser: the METRICS_API_KEY as the password, any user name (beyond the reference)',
        },
      },
      schemas: SCHEMAS,
    },
    paths: {
      '/future/orders': {
        post: {
          summary: 'Order a notification with reminders (an order chain)',
          parameters: [idempotencyKey],
          requestBody: jsonBody('NotificationOrderChainRequest'),
          responses: {
            ...chainAnswers(),
            '422': problem('Missing contact information for recipient(s) (NOT-00001)'),
          },
        },
      },
      '/future/orders/composed-email': {
        post: {
          summary:
            'Order one email with files (attachments fetched at send time). Needs the scope altinn:serviceowner/notifications.composedemail.create (a Platform Access Token does not open it)',
          security: [{ bearer: [] }],
          parameters: [idempotencyKey],
          requestBody: jsonBody('ComposedEmailRequest'),
          responses: chainAnswers(),
        },
      },
      '/future/orders/instant/sms': instant('Send one SMS at once (one-time codes)', 'InstantSmsRequest'),
      '/future/orders/instant/email': instant('Send one email at once', 'InstantEmailRequest'),
      '/future/orders/instant': instant('Deprecated: send one SMS at once', 'InstantSmsLegacyRequest'),
      '/orders/chain/{id}': {
        get: {
          summary: 'An order chain (the Location of a new chain): its main order and reminders, each with its status',
          parameters: idParam,
          responses: { '200': ok('The chain', ref('OrderChain')), '404': problem('No such order chain'), ...common },
        },
      },
      '/orders': {
        post: v1Order('v1: order a notification', ref('NotificationOrderRequest')),
        get: {
          summary: "v1: the caller's orders with a sender's reference",
          parameters: [{ name: 'sendersReference', in: 'query', required: true, schema: str }],
          responses: { '200': ok('Orders', ref('OrdersList')), ...common },
        },
      },
      '/orders/email': { post: v1Order('v1: order an email', { type: 'object' }) },
      '/orders/sms': { post: v1Order('v1: order an SMS', { type: 'object' }) },
      '/orders/{id}': {
        get: {
          summary: 'v1: an order',
          parameters: idParam,
          responses: {
            '200': ok('The order', ref('NotificationOrder')),
            '404': problem('No such order of the caller'),
            ...common,
          },
        },
      },
      '/orders/{id}/status': {
        get: {
          summary: 'v1: an order with its processing status',
          parameters: idParam,
          responses: {
            '200': ok('Status', ref('NotificationOrderWithStatus')),
            '404': problem('No such order'),
            ...common,
          },
        },
      },
      '/orders/{id}/notifications/email': {
        get: {
          summary: "v1: an order's email notifications",
          parameters: idParam,
          responses: { '200': ok('Summary', ref('NotificationSummary')), '404': problem('No such order'), ...common },
        },
      },
      '/orders/{id}/notifications/sms': {
        get: {
          summary: "v1: an order's SMS notifications",
          parameters: idParam,
          responses: { '200': ok('Summary', ref('NotificationSummary')), '404': problem('No such order'), ...common },
        },
      },
      '/orders/{id}/cancel': {
        put: {
          summary: 'Cancel an order still waiting for its send time (more than 5 minutes away)',
          parameters: idParam,
          responses: {
            '200': ok('Cancelled', ref('NotificationOrderWithStatus')),
            '404': problem('No such order'),
            '409': problem('Processing started or send time too close'),
            ...common,
          },
        },
      },
      '/future/shipment/{id}': {
        get: {
          summary: 'Delivery manifest of one order',
          parameters: idParam,
          responses: { '200': ok('Shipment', ref('Shipment')), '404': problem('NOT-00003'), ...common },
        },
      },
      '/future/shipment/feed': {
        get: {
          summary: "Status feed of the caller's orders that reached Completed or SendConditionNotMet",
          parameters: [
            { name: 'seq', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
            { name: 'pageSize', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 500 } },
            { name: 'orderBy', in: 'query', schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' } },
          ],
          responses: { '200': ok('Entries', { type: 'array', items: ref('Shipment') }), ...common },
        },
      },
      '/future/dashboard/recipients/notifications/nin': dashboard('NationalIdentityNumber', 'a person (11 digits)'),
      '/future/dashboard/recipients/notifications/orgnumber': dashboard(
        'OrganizationNumber',
        'an organisation (9 digits)',
      ),
      // (by its full path, with the root server: under the API base it would be Prometheus' /metrics below)
      '/notifications/api/v1/metrics': (() => {
        const refused = ok(
          'No X-API-Key, an empty one, none configured, or a wrong one: {"error": "API key required for Metrics endpoints"}, …',
          { type: 'object', properties: { error: str } },
        );
        const html = { description: 'The page', content: { 'text/html': { schema: str } } };
        return {
          servers: root,
          get: {
            summary: 'The monthly metrics page: a form to choose a month and year (the X-API-Key of METRICS_API_KEY)',
            security: [{ metricsApiKey: [] }, { metricsBasic: [] }],
            responses: { '200': html, '401': refused },
          },
          post: {
            summary:
              "One month's counts per creator (requested send times in the month, UTC): the page, or MonthlyMetrics as JSON when asked",
            security: [{ metricsApiKey: [] }, { metricsBasic: [] }],
            requestBody: {
              required: true,
              content: {
                'application/x-www-form-urlencoded': {
                  schema: {
                    type: 'object',
                    required: ['month', 'year'],
                    properties: {
                      month: { type: 'integer', minimum: 1, maximum: 12 },
                      year: { type: 'integer', minimum: 1, maximum: 9999 },
                    },
                  },
                },
              },
            },
            responses: {
              '200': {
                description: 'The page with the month, or its counts',
                content: { 'text/html': { schema: str }, 'application/json': { schema: ref('MonthlyMetrics') } },
              },
              '400': problem('month or year missing or out of range', 'ValidationProblemDetails'),
              '401': refused,
              '413': problem('The form is larger than 4 KB'),
              '415': problem('Not a form (application/x-www-form-urlencoded)'),
              '503': problem('Redis is unavailable (NOT-00004)'),
            },
          },
        };
      })(),
      ...Object.fromEntries(
        (['sms', 'email'] as const).map((channel) => [
          `/notifications/api/v1/metrics/${channel}`,
          {
            servers: root,
            post: {
              summary: `The daily ${channel === 'sms' ? 'SMS' : 'email'} export: a Parquet file of the ${channel === 'sms' ? 'SMS' : 'emails'} whose result was last set on the day (UTC; yesterday unless ?date=), one row each (the reference's ${channel === 'sms' ? 'DailySmsMetricsRecord' : 'DailyEmailMetricsRecord'})`,
              security: [{ metricsApiKey: [] }, { metricsBasic: [] }],
              parameters: [
                {
                  name: 'date',
                  in: 'query',
                  required: false,
                  description:
                    'An extension: the day (YYYY-MM-DD, UTC) to export, today (so far) or one of the 7 days before; default yesterday',
                  schema: { type: 'string', format: 'date' },
                },
              ],
              responses: {
                '200': {
                  description:
                    'The file ({yyyyMMdd}_' +
                    channel +
                    '_notifications_{environment}.parquet), with X-File-Hash (its MD5, base64), X-File-Size, X-Total-FileTransfer-Count (its rows), X-Generated-At and X-Environment',
                  headers: Object.fromEntries(
                    ['X-File-Hash', 'X-File-Size', 'X-Total-FileTransfer-Count', 'X-Generated-At', 'X-Environment'].map(
                      (h) => [h, { schema: { type: 'string' } }],
                    ),
                  ),
                  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
                },
                '400': problem(
                  'date not a day, in the future, or older than the exports keep',
                  'ValidationProblemDetails',
                ),
                '401': ok(
                  'No X-API-Key, an empty one, none configured, or a wrong one: {"error": "API key required for Metrics endpoints"}, …',
                  { type: 'object', properties: { error: str } },
                ),
                '503': problem('Redis is unavailable (NOT-00004)'),
              },
            },
          },
        ]),
      ),
      '/tests/sendcondition': {
        get: {
          summary:
            "A stub condition endpoint for testing an order's conditionEndpoint (no token): answers conditionMet as sendNotification",
          security: [],
          parameters: [
            {
              name: 'conditionMet',
              in: 'query',
              description: "true or false (any case); missing or anything else reads false, as the reference's binding",
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': ok('The condition', {
              type: 'object',
              required: ['sendNotification'],
              properties: { sendNotification: { type: 'boolean' } },
            }),
            '415': { description: 'A Content-Type other than JSON (no body)' },
          },
        },
      },
      // Served beside the API, not under its base: each names its own server.
      '/health': {
        servers: root,
        get: {
          summary: 'Readiness (no token): whether to send this gateway requests',
          security: [],
          responses: {
            '200': ok('Ready', { type: 'object' }),
            '503': ok('Starting (Kafka or the schema registry not yet answering), draining, or Redis not ready', {
              type: 'object',
            }),
          },
        },
      },
      '/health/live': {
        servers: root,
        get: {
          summary:
            'Liveness (no token): the process answers (whatever its dependencies do); while it starts, its tries to reach Kafka and the schema registry keep ending',
          security: [],
          responses: {
            '200': ok('Alive', { type: 'object' }),
            '503': ok('Still starting, and its last try has not ended for STAGE_STALL_LIMIT_MS', { type: 'object' }),
          },
        },
      },
      '/metrics': {
        servers: root,
        get: {
          summary: 'Prometheus metrics (no token)',
          security: [],
          responses: {
            '200': { description: 'The text exposition format', content: { 'text/plain': { schema: str } } },
          },
        },
      },
      '/openapi.json': {
        servers: root,
        get: { summary: 'This document', security: [], responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) } },
      },
      '/docs': {
        servers: root,
        get: {
          summary: 'The API page',
          security: [],
          responses: { '200': { description: 'HTML', content: { 'text/html': { schema: str } } } },
        },
      },
      '/notifications/email/api/v1/reports': {
        servers: root,
        post: {
          summary: "Email delivery reports in Azure Event Grid's shape (the provider's webhook)",
          security: [],
          parameters: [{ name: 'accesskey', in: 'query', required: true, schema: str }],
          requestBody: { required: true, content: { 'application/json': { schema: { type: ['array', 'object'] } } } },
          responses: {
            '200': ok('Reports taken, or the subscription handshake answered', { type: 'object' }),
            '400': problem('The body is not JSON, or not UTF-8, or cannot be read'),
            '401': ok('Wrong access key: {"error": "Unauthorized client"}', { type: 'object' }),
            '404': problem('A Message-ID it does not know (the provider retries), or the webhook is off'),
            '413': problem('The body is larger than 1 MB'),
            '503': problem('A dependency is unavailable (NOT-00004)'),
          },
        },
      },
    },
  };
}
