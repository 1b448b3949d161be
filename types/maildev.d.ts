/** The part of maildev 2.x's programmatic API the local mail sink uses (index.js). */
declare module 'maildev' {
  import type { EventEmitter } from 'node:events';
  interface MailDevConfig {
    smtp?: number;
    web?: number;
    ip?: string;
    webIp?: string;
    silent?: boolean;
  }
  interface MailServer extends EventEmitter {
    /** starts the SMTP server */
    listen(callback?: (err?: Error) => void): void;
  }
  /** Creates the SMTP server (started by `listen`) and starts the web page; 'new' per email. */
  export default function MailDev(config: MailDevConfig): MailServer;
}
