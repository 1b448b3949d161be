/**
 * Lints every Redis script as it runs (its `--@include`s expanded) with luacheck (Debian's
 * lua-check, installed by deploy/local/install.sh). Part of `npm run check`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { luaScript, luaScripts } from '../platform/redis/lua.ts';

const out = mkdtempSync(join(tmpdir(), 'lua-lint-'));
try {
  const scripts = luaScripts();
  for (const s of scripts) writeFileSync(join(out, s.replaceAll('/', '__')), luaScript(s).lua);
  try {
    execFileSync(
      'luacheck',
      ['--config', join(import.meta.dirname, '..', '.luacheckrc'), '--codes', '--no-color', '.'],
      {
        cwd: out,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    console.log(`luacheck: ${scripts.length} Redis scripts clean`);
  } catch (err) {
    const e = err as { code?: string; stdout?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error("luacheck is missing: install Debian's lua-check (deploy/local/install.sh does)");
    console.error(e.stdout?.toString() ?? String(err));
    process.exit(1);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
