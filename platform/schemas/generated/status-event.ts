// Generated from schemas/status-event.avsc by scripts/gen-schema-types.ts. Do not edit.
/* eslint-disable */
/* eslint-disable @typescript-eslint/no-namespace */

export type StatusEvent = NoAltinnNotifications.StatusEvent;

export namespace NoAltinnNotifications {
    export const ChannelSchema = "{\"type\":\"enum\",\"name\":\"Channel\",\"symbols\":[\"Email\",\"Sms\"]}";
    export const ChannelName = "no.altinn.notifications.Channel";
    export type Channel = "Email" | "Sms";
    export const ProcessingLifecycleSchema = "{\"type\":\"enum\",\"name\":\"ProcessingLifecycle\",\"symbols\":[\"Order_Registered\",\"Order_Processing\",\"Order_Completed\",\"Order_SendConditionNotMet\",\"Order_Cancelled\",\"Order_Processed\",\"SMS_New\",\"SMS_Sending\",\"SMS_Accepted\",\"SMS_Delivered\",\"SMS_Failed\",\"SMS_Failed_InvalidRecipient\",\"SMS_Failed_RecipientReserved\",\"SMS_Failed_BarredReceiver\",\"SMS_Failed_Deleted\",\"SMS_Failed_Expired\",\"SMS_Failed_Undelivered\",\"SMS_Failed_RecipientNotIdentified\",\"SMS_Failed_Rejected\",\"SMS_Failed_TTL\",\"Email_New\",\"Email_Sending\",\"Email_Succeeded\",\"Email_Delivered\",\"Email_Failed\",\"Email_Failed_RecipientReserved\",\"Email_Failed_RecipientNotIdentified\",\"Email_Failed_InvalidFormat\",\"Email_Failed_SuppressedRecipient\",\"Email_Failed_TransientError\",\"Email_Failed_Bounced\",\"Email_Failed_FilteredSpam\",\"Email_Failed_Quarantined\",\"Email_Failed_TTL\",\"Email_Failed_InvalidSasUrl\",\"Email_Failed_PayloadTooLarge\",\"Order_Rejected\"]}";
    export const ProcessingLifecycleName = "no.altinn.notifications.ProcessingLifecycle";
    export type ProcessingLifecycle = "Order_Registered" | "Order_Processing" | "Order_Completed" | "Order_SendConditionNotMet" | "Order_Cancelled" | "Order_Processed" | "SMS_New" | "SMS_Sending" | "SMS_Accepted" | "SMS_Delivered" | "SMS_Failed" | "SMS_Failed_InvalidRecipient" | "SMS_Failed_RecipientReserved" | "SMS_Failed_BarredReceiver" | "SMS_Failed_Deleted" | "SMS_Failed_Expired" | "SMS_Failed_Undelivered" | "SMS_Failed_RecipientNotIdentified" | "SMS_Failed_Rejected" | "SMS_Failed_TTL" | "Email_New" | "Email_Sending" | "Email_Succeeded" | "Email_Delivered" | "Email_Failed" | "Email_Failed_RecipientReserved" | "Email_Failed_RecipientNotIdentified" | "Email_Failed_InvalidFormat" | "Email_Failed_SuppressedRecipient" | "Email_Failed_TransientError" | "Email_Failed_Bounced" | "Email_Failed_FilteredSpam" | "Email_Failed_Quarantined" | "Email_Failed_TTL" | "Email_Failed_InvalidSasUrl" | "Email_Failed_PayloadTooLarge" | "Order_Rejected";
    export const SendingTimePolicySchema = "{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}";
    export const SendingTimePolicyName = "no.altinn.notifications.SendingTimePolicy";
    export type SendingTimePolicy = "Anytime" | "Daytime";
    export const FallbackNotificationSchema = "{\"type\":\"record\",\"name\":\"FallbackNotification\",\"fields\":[{\"name\":\"notificationId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"channel\",\"type\":\"Channel\"},{\"name\":\"destination\",\"type\":\"string\",\"doc\":\"an email address, or a mobile number in E.164\"},{\"name\":\"sender\",\"type\":\"string\",\"doc\":\"the from address, or the SMS sender\"},{\"name\":\"subject\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"html\",\"type\":\"boolean\",\"default\":false},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}}]}";
    export const FallbackNotificationName = "no.altinn.notifications.FallbackNotification";
    export interface FallbackNotification {
        notificationId: string;
        channel: NoAltinnNotifications.Channel;
        /**
         * an email address, or a mobile number in E.164
         */
        destination: string;
        /**
         * the from address, or the SMS sender
         */
        sender: string;
        /**
         * Default: null
         */
        subject: null | string;
        body: string;
        /**
         * Default: false
         */
        html: boolean;
        sendingTimePolicy: NoAltinnNotifications.SendingTimePolicy;
    }
    export const FallbackSchema = "{\"type\":\"record\",\"name\":\"Fallback\",\"fields\":[{\"name\":\"group\",\"type\":\"string\",\"doc\":\"the recipient's group within its order\"},{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"doc\":\"the ids of the recipient's preferred-channel notifications\"},{\"name\":\"notifications\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"FallbackNotification\",\"fields\":[{\"name\":\"notificationId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"channel\",\"type\":\"Channel\"},{\"name\":\"destination\",\"type\":\"string\",\"doc\":\"an email address, or a mobile number in E.164\"},{\"name\":\"sender\",\"type\":\"string\",\"doc\":\"the from address, or the SMS sender\"},{\"name\":\"subject\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"html\",\"type\":\"boolean\",\"default\":false},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}}]}}}]}";
    export const FallbackName = "no.altinn.notifications.Fallback";
    export interface Fallback {
        /**
         * the recipient's group within its order
         */
        group: string;
        /**
         * the ids of the recipient's preferred-channel notifications
         */
        members: string[];
        notifications: NoAltinnNotifications.FallbackNotification[];
    }
    export const StatusEventSchema = "{\"type\":\"record\",\"name\":\"StatusEvent\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"A status transition of an order or one of its notifications. Key: orderId (so one order's events stay in order).\",\"fields\":[{\"name\":\"eventId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"creator\",\"type\":\"string\"},{\"name\":\"notificationId\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"channel\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"Channel\",\"symbols\":[\"Email\",\"Sms\"]}],\"default\":null},{\"name\":\"destination\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"the address the notification goes to\"},{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"ProcessingLifecycle\",\"symbols\":[\"Order_Registered\",\"Order_Processing\",\"Order_Completed\",\"Order_SendConditionNotMet\",\"Order_Cancelled\",\"Order_Processed\",\"SMS_New\",\"SMS_Sending\",\"SMS_Accepted\",\"SMS_Delivered\",\"SMS_Failed\",\"SMS_Failed_InvalidRecipient\",\"SMS_Failed_RecipientReserved\",\"SMS_Failed_BarredReceiver\",\"SMS_Failed_Deleted\",\"SMS_Failed_Expired\",\"SMS_Failed_Undelivered\",\"SMS_Failed_RecipientNotIdentified\",\"SMS_Failed_Rejected\",\"SMS_Failed_TTL\",\"Email_New\",\"Email_Sending\",\"Email_Succeeded\",\"Email_Delivered\",\"Email_Failed\",\"Email_Failed_RecipientReserved\",\"Email_Failed_RecipientNotIdentified\",\"Email_Failed_InvalidFormat\",\"Email_Failed_SuppressedRecipient\",\"Email_Failed_TransientError\",\"Email_Failed_Bounced\",\"Email_Failed_FilteredSpam\",\"Email_Failed_Quarantined\",\"Email_Failed_TTL\",\"Email_Failed_InvalidSasUrl\",\"Email_Failed_PayloadTooLarge\",\"Order_Rejected\"]}},{\"name\":\"description\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"gatewayReference\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"SMSC message id or SMTP queue id\"},{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"expiresAt\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"a notification's expiry, on the events that create it and on Succeeded/Accepted\"},{\"name\":\"fallback\",\"doc\":\"on the New event of each preferred-channel notification of a recipient with fallback on: what is sent, once, on the other channel when every one of them has finally failed\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Fallback\",\"fields\":[{\"name\":\"group\",\"type\":\"string\",\"doc\":\"the recipient's group within its order\"},{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"doc\":\"the ids of the recipient's preferred-channel notifications\"},{\"name\":\"notifications\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"FallbackNotification\",\"fields\":[{\"name\":\"notificationId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"channel\",\"type\":\"Channel\"},{\"name\":\"destination\",\"type\":\"string\",\"doc\":\"an email address, or a mobile number in E.164\"},{\"name\":\"sender\",\"type\":\"string\",\"doc\":\"the from address, or the SMS sender\"},{\"name\":\"subject\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"html\",\"type\":\"boolean\",\"default\":false},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}}]}}}]}],\"default\":null},{\"name\":\"recipientNationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"on the event that creates a notification (New, or a failure placeholder): the national identity number of the person it is for, when the order named one (the support dashboard looks notifications up by it)\"},{\"name\":\"recipientOrganizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"on the event that creates a notification: the organisation it is for, when the order named one\"},{\"name\":\"requestedSendTime\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"on the event that creates a notification: its order's requested send time\"},{\"name\":\"smsCount\",\"type\":[\"null\",\"int\"],\"default\":null,\"doc\":\"on the event that creates a notification, when its order has an SMS text: the SMS messages one of its SMS counts for (the reference's smscount, from the text as ordered: the monthly metrics sum them)\"},{\"name\":\"customBodyLength\",\"type\":[\"null\",\"int\"],\"default\":null,\"doc\":\"on the New event of an SMS whose order's text has keywords ($recipientName$, $recipientNumber$) filled in for its recipient: the length, in characters, of the text as sent (the reference's length of customizedbody, in its daily SMS export)\"}]}";
    export const StatusEventName = "no.altinn.notifications.StatusEvent";
    /**
     * A status transition of an order or one of its notifications. Key: orderId (so one order's events stay in order).
     */
    export interface StatusEvent {
        eventId: string;
        orderId: string;
        creator: string;
        /**
         * Default: null
         */
        notificationId: null | string;
        /**
         * Default: null
         */
        channel: null | NoAltinnNotifications.Channel;
        /**
         * the address the notification goes to
         *
         * Default: null
         */
        destination: null | string;
        status: NoAltinnNotifications.ProcessingLifecycle;
        /**
         * Default: null
         */
        description: null | string;
        /**
         * SMSC message id or SMTP queue id
         *
         * Default: null
         */
        gatewayReference: null | string;
        occurredAt: number;
        /**
         * a notification's expiry, on the events that create it and on Succeeded/Accepted
         *
         * Default: null
         */
        expiresAt: null | number;
        /**
         * on the New event of each preferred-channel notification of a recipient with fallback on: what is sent, once, on the other channel when every one of them has finally failed
         *
         * Default: null
         */
        fallback: null | NoAltinnNotifications.Fallback;
        /**
         * on the event that creates a notification (New, or a failure placeholder): the national identity number of the person it is for, when the order named one (the support dashboard looks notifications up by it)
         *
         * Default: null
         */
        recipientNationalIdentityNumber: null | string;
        /**
         * on the event that creates a notification: the organisation it is for, when the order named one
         *
         * Default: null
         */
        recipientOrganizationNumber: null | string;
        /**
         * on the event that creates a notification: its order's requested send time
         *
         * Default: null
         */
        requestedSendTime: null | number;
        /**
         * on the event that creates a notification, when its order has an SMS text: the SMS messages one of its SMS counts for (the reference's smscount, from the text as ordered: the monthly metrics sum them)
         *
         * Default: null
         */
        smsCount: null | number;
        /**
         * on the New event of an SMS whose order's text has keywords ($recipientName$, $recipientNumber$) filled in for its recipient: the length, in characters, of the text as sent (the reference's length of customizedbody, in its daily SMS export)
         *
         * Default: null
         */
        customBodyLength: null | number;
    }
}

