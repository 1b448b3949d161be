// Generated from schemas/enriched-order.avsc by scripts/gen-schema-types.ts. Do not edit.
/* eslint-disable */
/* eslint-disable @typescript-eslint/no-namespace */

export type EnrichedOrder = NoAltinnNotifications.EnrichedOrder;

export namespace NoAltinnNotifications {
    export const ResolvedRecipientSchema = "{\"type\":\"record\",\"name\":\"ResolvedRecipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":\"boolean\",\"default\":false},{\"name\":\"emailAddresses\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"mobileNumbers\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"userRegistered\",\"type\":\"boolean\",\"default\":false,\"doc\":\"a user-registered contact of an organisation\"}]}";
    export const ResolvedRecipientName = "no.altinn.notifications.ResolvedRecipient";
    export interface ResolvedRecipient {
        /**
         * Default: null
         */
        nationalIdentityNumber: null | string;
        /**
         * Default: null
         */
        organizationNumber: null | string;
        /**
         * Default: null
         */
        externalIdentity: null | string;
        /**
         * Default: null
         */
        name: null | string;
        /**
         * Default: false
         */
        isReserved: boolean;
        /**
         * Default: []
         */
        emailAddresses: string[];
        /**
         * Default: []
         */
        mobileNumbers: string[];
        /**
         * a user-registered contact of an organisation
         *
         * Default: false
         */
        userRegistered: boolean;
    }
    export const OrderTypeSchema = "{\"type\":\"enum\",\"name\":\"OrderType\",\"symbols\":[\"Notification\",\"Reminder\",\"Instant\",\"Composed\"]}";
    export const OrderTypeName = "no.altinn.notifications.OrderType";
    export type OrderType = "Notification" | "Reminder" | "Instant" | "Composed";
    export const NotificationChannelSchema = "{\"type\":\"enum\",\"name\":\"NotificationChannel\",\"symbols\":[\"Email\",\"Sms\",\"EmailPreferred\",\"SmsPreferred\",\"EmailAndSms\"]}";
    export const NotificationChannelName = "no.altinn.notifications.NotificationChannel";
    export type NotificationChannel = "Email" | "Sms" | "EmailPreferred" | "SmsPreferred" | "EmailAndSms";
    export const SendingTimePolicySchema = "{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}";
    export const SendingTimePolicyName = "no.altinn.notifications.SendingTimePolicy";
    export type SendingTimePolicy = "Anytime" | "Daytime";
    export const EmailContentTypeSchema = "{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}";
    export const EmailContentTypeName = "no.altinn.notifications.EmailContentType";
    export type EmailContentType = "Plain" | "Html";
    export const EmailTemplateSchema = "{\"type\":\"record\",\"name\":\"EmailTemplate\",\"fields\":[{\"name\":\"fromAddress\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"contentType\",\"type\":{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}}]}";
    export const EmailTemplateName = "no.altinn.notifications.EmailTemplate";
    export interface EmailTemplate {
        fromAddress: string;
        subject: string;
        body: string;
        contentType: NoAltinnNotifications.EmailContentType;
    }
    export const SmsTemplateSchema = "{\"type\":\"record\",\"name\":\"SmsTemplate\",\"fields\":[{\"name\":\"senderNumber\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"}]}";
    export const SmsTemplateName = "no.altinn.notifications.SmsTemplate";
    export interface SmsTemplate {
        senderNumber: string;
        body: string;
    }
    export const RecipientSchema = "{\"type\":\"record\",\"name\":\"Recipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"emailAddress\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"mobileNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":[\"null\",\"boolean\"],\"default\":null}]}";
    export const RecipientName = "no.altinn.notifications.Recipient";
    export interface Recipient {
        /**
         * Default: null
         */
        nationalIdentityNumber: null | string;
        /**
         * Default: null
         */
        organizationNumber: null | string;
        /**
         * Default: null
         */
        externalIdentity: null | string;
        /**
         * Default: null
         */
        emailAddress: null | string;
        /**
         * Default: null
         */
        mobileNumber: null | string;
        /**
         * Default: null
         */
        isReserved: null | boolean;
    }
    export const DialogportenAssociationSchema = "{\"type\":\"record\",\"name\":\"DialogportenAssociation\",\"fields\":[{\"name\":\"dialogId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"transmissionId\",\"type\":[\"null\",\"string\"],\"default\":null}]}";
    export const DialogportenAssociationName = "no.altinn.notifications.DialogportenAssociation";
    export interface DialogportenAssociation {
        /**
         * Default: null
         */
        dialogId: null | string;
        /**
         * Default: null
         */
        transmissionId: null | string;
    }
    export const AttachmentSchema = "{\"type\":\"record\",\"name\":\"Attachment\",\"fields\":[{\"name\":\"filename\",\"type\":\"string\"},{\"name\":\"mimeType\",\"type\":\"string\"},{\"name\":\"sasUrl\",\"type\":\"string\",\"doc\":\"a read SAS URL of one blob; fetched at send time, never logged (its signature is a credential)\"}]}";
    export const AttachmentName = "no.altinn.notifications.Attachment";
    export interface Attachment {
        filename: string;
        mimeType: string;
        /**
         * a read SAS URL of one blob; fetched at send time, never logged (its signature is a credential)
         */
        sasUrl: string;
    }
    export const NotificationOrderSchema = "{\"type\":\"record\",\"name\":\"NotificationOrder\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"One order (the main notification or one reminder of an order chain), as placed by the gateway or a direct producer. Key: orderId. Topics: orders, orders.due.\",\"fields\":[{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"orderChainId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"OrderType\",\"symbols\":[\"Notification\",\"Reminder\",\"Instant\",\"Composed\"]}},{\"name\":\"creator\",\"type\":\"string\",\"doc\":\"short name of the ordering organisation (the tenant)\"},{\"name\":\"idempotencyId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"sendersReference\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"requestedSendTime\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"created\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"notificationChannel\",\"type\":{\"type\":\"enum\",\"name\":\"NotificationChannel\",\"symbols\":[\"Email\",\"Sms\",\"EmailPreferred\",\"SmsPreferred\",\"EmailAndSms\"]}},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]},\"doc\":\"applies to SMS; email is always Anytime\"},{\"name\":\"conditionEndpoint\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"ignoreReservation\",\"type\":\"boolean\",\"default\":false},{\"name\":\"useStaleContactInformation\",\"type\":\"boolean\",\"default\":false},{\"name\":\"resourceId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"resourceAction\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"timeToLiveSeconds\",\"type\":[\"null\",\"int\"],\"default\":null,\"doc\":\"instant orders only\"},{\"name\":\"emailTemplate\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"EmailTemplate\",\"fields\":[{\"name\":\"fromAddress\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"contentType\",\"type\":{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}}]}],\"default\":null},{\"name\":\"smsTemplate\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"SmsTemplate\",\"fields\":[{\"name\":\"senderNumber\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"}]}],\"default\":null},{\"name\":\"recipients\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Recipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"emailAddress\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"mobileNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":[\"null\",\"boolean\"],\"default\":null}]}}},{\"name\":\"dialogportenAssociation\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"DialogportenAssociation\",\"fields\":[{\"name\":\"dialogId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"transmissionId\",\"type\":[\"null\",\"string\"],\"default\":null}]}],\"default\":null},{\"name\":\"fallbackOnDeliveryFailure\",\"type\":[\"null\",\"boolean\"],\"default\":null,\"doc\":\"extension (not in the reference): for EmailPreferred and SmsPreferred, a recipient whose every notification on the preferred channel finally fails is sent once on the other channel; null: the creator's setting (FALLBACK_CREATORS)\"},{\"name\":\"attachments\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Attachment\",\"fields\":[{\"name\":\"filename\",\"type\":\"string\"},{\"name\":\"mimeType\",\"type\":\"string\"},{\"name\":\"sasUrl\",\"type\":\"string\",\"doc\":\"a read SAS URL of one blob; fetched at send time, never logged (its signature is a credential)\"}]}}],\"default\":null,\"doc\":\"composed orders only (POST /future/orders/composed-email): files fetched by send-email at send time and attached\"}]}";
    export const NotificationOrderName = "no.altinn.notifications.NotificationOrder";
    /**
     * One order (the main notification or one reminder of an order chain), as placed by the gateway or a direct producer. Key: orderId. Topics: orders, orders.due.
     */
    export interface NotificationOrder {
        orderId: string;
        orderChainId: string;
        type: NoAltinnNotifications.OrderType;
        /**
         * short name of the ordering organisation (the tenant)
         */
        creator: string;
        /**
         * Default: null
         */
        idempotencyId: null | string;
        /**
         * Default: null
         */
        sendersReference: null | string;
        requestedSendTime: number;
        created: number;
        notificationChannel: NoAltinnNotifications.NotificationChannel;
        /**
         * applies to SMS; email is always Anytime
         */
        sendingTimePolicy: NoAltinnNotifications.SendingTimePolicy;
        /**
         * Default: null
         */
        conditionEndpoint: null | string;
        /**
         * Default: false
         */
        ignoreReservation: boolean;
        /**
         * Default: false
         */
        useStaleContactInformation: boolean;
        /**
         * Default: null
         */
        resourceId: null | string;
        /**
         * Default: null
         */
        resourceAction: null | string;
        /**
         * instant orders only
         *
         * Default: null
         */
        timeToLiveSeconds: null | number;
        /**
         * Default: null
         */
        emailTemplate: null | NoAltinnNotifications.EmailTemplate;
        /**
         * Default: null
         */
        smsTemplate: null | NoAltinnNotifications.SmsTemplate;
        recipients: NoAltinnNotifications.Recipient[];
        /**
         * Default: null
         */
        dialogportenAssociation: null | NoAltinnNotifications.DialogportenAssociation;
        /**
         * extension (not in the reference): for EmailPreferred and SmsPreferred, a recipient whose every notification on the preferred channel finally fails is sent once on the other channel; null: the creator's setting (FALLBACK_CREATORS)
         *
         * Default: null
         */
        fallbackOnDeliveryFailure: null | boolean;
        /**
         * composed orders only (POST /future/orders/composed-email): files fetched by send-email at send time and attached
         *
         * Default: null
         */
        attachments: null | NoAltinnNotifications.Attachment[];
    }
    export const EnrichedOrderSchema = "{\"type\":\"record\",\"name\":\"EnrichedOrder\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"An order with its recipients looked up in the registries at send time. Key: orderId.\",\"fields\":[{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"creator\",\"type\":\"string\"},{\"name\":\"enrichedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"conditionChecks\",\"type\":\"int\",\"default\":0,\"doc\":\"send-condition evaluations so far\"},{\"name\":\"recipients\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"ResolvedRecipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":\"boolean\",\"default\":false},{\"name\":\"emailAddresses\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"mobileNumbers\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"userRegistered\",\"type\":\"boolean\",\"default\":false,\"doc\":\"a user-registered contact of an organisation\"}]}}},{\"name\":\"orderJson\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"deprecated: the order as JSON, as versions before `order` wrote it; read only when `order` is null\"},{\"name\":\"order\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"NotificationOrder\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"One order (the main notification or one reminder of an order chain), as placed by the gateway or a direct producer. Key: orderId. Topics: orders, orders.due.\",\"fields\":[{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"orderChainId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"OrderType\",\"symbols\":[\"Notification\",\"Reminder\",\"Instant\",\"Composed\"]}},{\"name\":\"creator\",\"type\":\"string\",\"doc\":\"short name of the ordering organisation (the tenant)\"},{\"name\":\"idempotencyId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"sendersReference\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"requestedSendTime\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"created\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"notificationChannel\",\"type\":{\"type\":\"enum\",\"name\":\"NotificationChannel\",\"symbols\":[\"Email\",\"Sms\",\"EmailPreferred\",\"SmsPreferred\",\"EmailAndSms\"]}},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]},\"doc\":\"applies to SMS; email is always Anytime\"},{\"name\":\"conditionEndpoint\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"ignoreReservation\",\"type\":\"boolean\",\"default\":false},{\"name\":\"useStaleContactInformation\",\"type\":\"boolean\",\"default\":false},{\"name\":\"resourceId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"resourceAction\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"timeToLiveSeconds\",\"type\":[\"null\",\"int\"],\"default\":null,\"doc\":\"instant orders only\"},{\"name\":\"emailTemplate\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"EmailTemplate\",\"fields\":[{\"name\":\"fromAddress\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"contentType\",\"type\":{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}}]}],\"default\":null},{\"name\":\"smsTemplate\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"SmsTemplate\",\"fields\":[{\"name\":\"senderNumber\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"}]}],\"default\":null},{\"name\":\"recipients\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Recipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"emailAddress\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"mobileNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":[\"null\",\"boolean\"],\"default\":null}]}}},{\"name\":\"dialogportenAssociation\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"DialogportenAssociation\",\"fields\":[{\"name\":\"dialogId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"transmissionId\",\"type\":[\"null\",\"string\"],\"default\":null}]}],\"default\":null},{\"name\":\"fallbackOnDeliveryFailure\",\"type\":[\"null\",\"boolean\"],\"default\":null,\"doc\":\"extension (not in the reference): for EmailPreferred and SmsPreferred, a recipient whose every notification on the preferred channel finally fails is sent once on the other channel; null: the creator's setting (FALLBACK_CREATORS)\"},{\"name\":\"attachments\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Attachment\",\"fields\":[{\"name\":\"filename\",\"type\":\"string\"},{\"name\":\"mimeType\",\"type\":\"string\"},{\"name\":\"sasUrl\",\"type\":\"string\",\"doc\":\"a read SAS URL of one blob; fetched at send time, never logged (its signature is a credential)\"}]}}],\"default\":null,\"doc\":\"composed orders only (POST /future/orders/composed-email): files fetched by send-email at send time and attached\"}]}],\"default\":null,\"doc\":\"the NotificationOrder this enriches, whole, so later stages need no lookup (the very definition of schemas/order.avsc)\"}]}";
    export const EnrichedOrderName = "no.altinn.notifications.EnrichedOrder";
    /**
     * An order with its recipients looked up in the registries at send time. Key: orderId.
     */
    export interface EnrichedOrder {
        orderId: string;
        creator: string;
        enrichedAt: number;
        /**
         * send-condition evaluations so far
         *
         * Default: 0
         */
        conditionChecks: number;
        recipients: NoAltinnNotifications.ResolvedRecipient[];
        /**
         * deprecated: the order as JSON, as versions before `order` wrote it; read only when `order` is null
         *
         * Default: null
         */
        orderJson: null | string;
        /**
         * the NotificationOrder this enriches, whole, so later stages need no lookup (the very definition of schemas/order.avsc)
         *
         * Default: null
         */
        order: null | NoAltinnNotifications.NotificationOrder;
    }
}

