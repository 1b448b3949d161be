import { describe, expect, it } from 'vitest';
import { chainIdOf, mainOrderId, nameUuid } from '../../platform/ids.ts';

// Derived ids outlive the code that derives them: a record handled again after an upgrade must
// get the very same ids, or consumers that de-duplicate by them see a second notification.
describe('derived ids', () => {
  it('are RFC 4122 version 5 UUIDs (the RFC namespace for DNS names gives the known id)', () => {
    const dns = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');
    expect(nameUuid('www.example.com', dns)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('never change for a name', () => {
    expect(nameUuid('a')).toBe('d22d915d-8f1e-5e7e-a47f-bf94f6d25be6');
    expect(nameUuid('')).toBe('a80e1a1e-3c1e-5104-9245-f0bdc15e24a0');
    expect(nameUuid('Ærlig svar på 🙂')).toBe('5706971f-9568-52e8-b7f2-302c252b71f4');
    expect(chainIdOf('ttd', 'idem-3')).toBe('76f471bb-4aba-582d-98fb-d80f35a41289');
    expect(mainOrderId(chainIdOf('ttd', 'idem-3'))).toBe('c1f47078-6d80-55d5-b2ef-c0c5786a916b');
  });

  it('carry the version and variant bits whatever the hash gives', () => {
    for (let i = 0; i < 2000; i++)
      expect(nameUuid(`order-${i}\nemail`)).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
  });
});
