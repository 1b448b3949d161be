// Generated from schemas/sms-notification.avsc by scripts/gen-schema-types.ts. Do not edit.
/* eslint-disable */
/* eslint-disable @typescript-eslint/no-namespace */

export type SmsNotification = NoAltinnNotifications.SmsNotification;

export namespace NoAltinnNotifications {
    export const SendingTimePolicySchema = "{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}";
    export const SendingTimePolicyName = "no.altinn.notifications.SendingTimePolicy";
    export type SendingTimePolicy = "Anytime" | "Daytime";
    export const SmsNotificationSchema = "{\"type\":\"record\",\"name\":\"SmsNotification\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"One SMS to one mobile number, ready to send. Key: notificationId.\",\"fields\":[{\"name\":\"notificationId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"creator\",\"type\":\"string\"},{\"name\":\"sender\",\"type\":\"string\"},{\"name\":\"recipient\",\"type\":\"string\",\"doc\":\"E.164 with leading +\"},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"sendingTimePolicy\",\"type\":{\"type\":\"enum\",\"name\":\"SendingTimePolicy\",\"symbols\":[\"Anytime\",\"Daytime\"]}},{\"name\":\"requestedSendTime\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"expiry\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const SmsNotificationName = "no.altinn.notifications.SmsNotification";
    /**
     * One SMS to one mobile number, ready to send. Key: notificationId.
     */
    export interface SmsNotification {
        notificationId: string;
        orderId: string;
        creator: string;
        sender: string;
        /**
         * E.164 with leading +
         */
        recipient: string;
        body: string;
        sendingTimePolicy: NoAltinnNotifications.SendingTimePolicy;
        requestedSendTime: number;
        expiry: number;
    }
}

