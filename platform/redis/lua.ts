import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Redis } from 'ioredis';

/**
 * The project's Redis scripts live as Lua files in `platform/redis/lua/` (as BullMQ keeps its
 * commands), so they can be read and linted as Lua (`npm run check` runs luacheck on them). Each
 * names its key count in a `--@keys N` line and may pull in shared pieces (`lib/*.lua`, plain
 * local functions) with `--@include lib/name.lua` lines, which are replaced by the file's text.
 * Files are read once per process.
 */
export const LUA_DIR = join(import.meta.dirname, 'lua');

const sources = new Map<string, { lua: string; numberOfKeys: number }>();

/** A script's source with its includes expanded, and its key count. */
export function luaScript(file: string): { lua: string; numberOfKeys: number } {
  const known = sources.get(file);
  if (known) return known;
  const text = readFileSync(join(LUA_DIR, file), 'utf8');
  const keys = /^--@keys (\d+)$/m.exec(text);
  if (!keys) throw new Error(`${file}: no --@keys line`);
  const included = new Set<string>();
  const expand = (src: string): string =>
    src.replace(/^--@include (\S+)$/gm, (_line, lib: string) => {
      if (included.has(lib)) return '';
      included.add(lib);
      return expand(readFileSync(join(LUA_DIR, lib), 'utf8'));
    });
  const script = { lua: expand(text), numberOfKeys: Number(keys[1]) };
  sources.set(file, script);
  return script;
}

/**
 * Defines each script as a command on this connection (ioredis then runs it by EVALSHA, loading
 * it once); a command already defined on it is left as it is.
 */
export function defineScripts<N extends string>(
  redis: Redis,
  scripts: Record<N, string>,
): Redis & Record<N, ScriptCommand> {
  for (const [name, file] of Object.entries(scripts) as [N, string][]) {
    if (!(name in redis)) redis.defineCommand(name, luaScript(file));
  }
  return redis as Redis & Record<N, ScriptCommand>;
}

export type ScriptCommand = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/** Every script file (not the `lib/` pieces), as paths under LUA_DIR. */
export function luaScripts(dir = LUA_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name === 'lib' ? [] : luaScripts(join(dir, e.name)).map((f) => join(e.name, f));
    return e.name.endsWith('.lua') ? [relative(dir, join(dir, e.name))] : [];
  });
}
