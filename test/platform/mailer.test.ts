import { SMTPServer } from 'smtp-server';
import { afterAll, describe, expect, it } from 'vitest';
import { Mailer } from '../../platform/smtp/mailer.ts';
import { freePort } from '../support/process.ts';

/** The SMTP adapter against a real SMTP server that is down, then up. */
describe('mailer', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('sends again once the server is back after refusing more connections than the pool holds', async () => {
    const port = await freePort();
    const poolSize = 3;
    const mailer = new Mailer({
      host: '127.0.0.1',
      port,
      secure: false,
      poolSize,
      rejectUnauthorized: false,
      timeoutMs: 5_000,
    });
    closers.push(async () => mailer.close());
    const mail = {
      from: 'noreply@altinn.cloud',
      to: 'ola@example.com',
      subject: 'Hei',
      body: 'x',
      html: false,
      headers: {},
    };
    // each refused connection must give its pool slot back, or the pool stops sending for good
    for (let i = 0; i < poolSize * 2; i++) expect((await mailer.send(mail)).kind).toBe('transient');

    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const verdict = await mailer.send(mail);
    expect(verdict.kind).toBe('accepted');
  });
});
