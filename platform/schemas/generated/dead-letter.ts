// Generated from schemas/dead-letter.avsc by scripts/gen-schema-types.ts. Do not edit.
/* eslint-disable */
/* eslint-disable @typescript-eslint/no-namespace */

export type DeadLetter = NoAltinnNotifications.DeadLetter;

export namespace NoAltinnNotifications {
    export const DeadLetterSchema = "{\"type\":\"record\",\"name\":\"DeadLetter\",\"namespace\":\"no.altinn.notifications\",\"doc\":\"A record a stage could not process, with why and where it came from; the original bytes are kept for replay. Key: the original key.\",\"fields\":[{\"name\":\"stage\",\"type\":\"string\"},{\"name\":\"errorCode\",\"type\":\"string\",\"doc\":\"stable code from the error taxonomy\"},{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"attempts\",\"type\":\"int\"},{\"name\":\"originalTopic\",\"type\":\"string\"},{\"name\":\"originalPartition\",\"type\":\"int\"},{\"name\":\"originalOffset\",\"type\":\"long\"},{\"name\":\"originalTimestamp\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"originalKey\",\"type\":[\"null\",\"bytes\"],\"default\":null},{\"name\":\"originalValue\",\"type\":[\"null\",\"bytes\"],\"default\":null},{\"name\":\"originalHeaders\",\"type\":{\"type\":\"map\",\"values\":\"bytes\"},\"default\":{}},{\"name\":\"failedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const DeadLetterName = "no.altinn.notifications.DeadLetter";
    /**
     * A record a stage could not process, with why and where it came from; the original bytes are kept for replay. Key: the original key.
     */
    export interface DeadLetter {
        stage: string;
        /**
         * stable code from the error taxonomy
         */
        errorCode: string;
        reason: string;
        attempts: number;
        originalTopic: string;
        originalPartition: number;
        originalOffset: number;
        /**
         * Default: null
         */
        originalTimestamp: null | number;
        /**
         * Default: null
         */
        originalKey: null | Buffer;
        /**
         * Default: null
         */
        originalValue: null | Buffer;
        /**
         * Default: {}
         */
        originalHeaders: {
            [index: string]: Buffer;
        };
        failedAt: number;
    }
}

