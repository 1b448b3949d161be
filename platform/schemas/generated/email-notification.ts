// Generated from schemas/email-notification.avsc by scripts/gen-schema-types.ts. Do not edit.
/* eslint-disable */
/* eslint-disable @typescript-eslint/no-namespace */

export type EmailNotification = NoAltinnNotifications.EmailNotification;

export namespace NoAltinnNotifications {
    export const EmailContentTypeSchema = "{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}";
    export const EmailContentTypeName = "no.altinn.notifications.EmailContentType";
    export type EmailContentType = "Plain" | "Html";
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
    export const EmailNotificationSchema = "{\"type\":\"record\",\"name\":\"EmailNotification\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"One email to one address, ready to send. Key: notificationId.\",\"fields\":[{\"name\":\"notificationId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"creator\",\"type\":\"string\"},{\"name\":\"fromAddress\",\"type\":\"string\"},{\"name\":\"toAddress\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"body\",\"type\":\"string\"},{\"name\":\"contentType\",\"type\":{\"type\":\"enum\",\"name\":\"EmailContentType\",\"symbols\":[\"Plain\",\"Html\"]}},{\"name\":\"requestedSendTime\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"expiry\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"attachments\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Attachment\",\"fields\":[{\"name\":\"filename\",\"type\":\"string\"},{\"name\":\"mimeType\",\"type\":\"string\"},{\"name\":\"sasUrl\",\"type\":\"string\",\"doc\":\"a read SAS URL of one blob; fetched at send time, never logged (its signature is a credential)\"}]}}],\"default\":null,\"doc\":\"a composed email's files, fetched at send time and attached; null for every other email\"}]}";
    export const EmailNotificationName = "no.altinn.notifications.EmailNotification";
    /**
     * One email to one address, ready to send. Key: notificationId.
     */
    export interface EmailNotification {
        notificationId: string;
        orderId: string;
        creator: string;
        fromAddress: string;
        toAddress: string;
        subject: string;
        body: string;
        contentType: NoAltinnNotifications.EmailContentType;
        requestedSendTime: number;
        expiry: number;
        /**
         * a composed email's files, fetched at send time and attached; null for every other email
         *
         * Default: null
         */
        attachments: null | NoAltinnNotifications.Attachment[];
    }
}

