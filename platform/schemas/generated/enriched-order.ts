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
    export const EnrichedOrderSchema = "{\"type\":\"record\",\"name\":\"EnrichedOrder\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"An order with its recipients looked up in the registries at send time. Key: orderId.\",\"fields\":[{\"name\":\"orderId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},{\"name\":\"creator\",\"type\":\"string\"},{\"name\":\"enrichedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"conditionChecks\",\"type\":\"int\",\"default\":0,\"doc\":\"send-condition evaluations so far\"},{\"name\":\"recipients\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"ResolvedRecipient\",\"fields\":[{\"name\":\"nationalIdentityNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"organizationNumber\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"externalIdentity\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"isReserved\",\"type\":\"boolean\",\"default\":false},{\"name\":\"emailAddresses\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"mobileNumbers\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"userRegistered\",\"type\":\"boolean\",\"default\":false,\"doc\":\"a user-registered contact of an organisation\"}]}}},{\"name\":\"orderJson\",\"type\":\"string\",\"doc\":\"the NotificationOrder this enriches, as JSON (kept whole so later stages need no lookup)\"}]}";
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
         * the NotificationOrder this enriches, as JSON (kept whole so later stages need no lookup)
         */
        orderJson: string;
    }
}

