/**
 * Lints every Redis script as it runs (its `--@include`s expanded) with luacheck (Debian's
 * lua-check, installed by deploy/local/install.sh). Part of `npm run check`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { LUA_DIR, luaScript } from '../platform/redis/lua.ts';

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'lib'
        ? []
        : files(join(dir, e.name))
      : e.name.endsWith('.lua')
        ? [join(dir, e.name)]
        : [],
  );

const out = mkdtempSync(join(tmpdir(), 'lua-lint-'));
try {
  const scripts = files(LUA_DIR).map((f) => relative(LUA_DIR, f));
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
