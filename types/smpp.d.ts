// The parts of the `smpp` package (no published types) that this project uses.
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';

  export interface PDU {
    command: string;
    command_status: number;
    sequence_number: number;
    message_id?: string;
    esm_class?: number;
    source_addr?: string;
    destination_addr?: string;
    short_message?: { message?: string; udh?: Buffer[] } | Buffer | string;
    receipted_message_id?: string;
    [field: string]: unknown;
    response(fields?: Record<string, unknown>): PDU;
  }

  export interface Session extends EventEmitter {
    bind_transceiver(fields: Record<string, unknown>, cb: (pdu: PDU) => void): void;
    submit_sm(fields: Record<string, unknown>, cb: (pdu: PDU) => void): void;
    enquire_link(cb?: (pdu: PDU) => void): void;
    unbind(cb?: (pdu: PDU) => void): void;
    send(pdu: PDU): void;
    close(cb?: () => void): void;
    destroy(cb?: () => void): void;
  }

  export interface ConnectOptions {
    url?: string;
    host?: string;
    port?: number;
    auto_enquire_link_period?: number;
    connectTimeout?: number;
  }

  export function connect(options: ConnectOptions | string, listener?: () => void): Session;
  export const errors: Record<string, number>;
  export const encodings: {
    ASCII: { match(value: string): boolean; encode(value: string): Buffer; decode(value: Buffer): string };
    UCS2: { match(value: string): boolean; encode(value: string): Buffer; decode(value: Buffer): string };
  };
  export const ESM_CLASS: Record<string, number>;
}
