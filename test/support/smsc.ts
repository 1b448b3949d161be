import { stackEnv } from './stack.ts';

/** What the SMSC simulator took from one system id (its control API; the SMSC is another process). */
export interface SmscMessage {
  messageId: string;
  receivedAt: number;
  shortMessageHex: string;
}

/** `controlUrl`: another simulator's control API than the stack's */
export function smscOf(systemId: string, controlUrl = stackEnv().SMSC_CONTROL_URL) {
  const get = async <T>(path: string) =>
    (await (await fetch(`${controlUrl}/${path}?systemId=${encodeURIComponent(systemId)}`)).json()) as T;
  return {
    messages: () => get<SmscMessage[]>('messages'),
    stats: () => get<{ accepted: number; binds: number; maxInFlight: number }>('stats'),
    /** each submit's text, in the order the SMSC took them */
    texts: async () =>
      (await get<SmscMessage[]>('messages')).map((m) => Buffer.from(m.shortMessageHex, 'hex').toString('latin1')),
  };
}
