import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LUA_DIR, luaScript } from '../../platform/redis/lua.ts';
import { stackEnv } from '../support/stack.ts';

const scripts = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'lib'
        ? []
        : scripts(join(dir, e.name))
      : e.name.endsWith('.lua')
        ? [relative(LUA_DIR, join(dir, e.name))]
        : [],
  );

describe('Redis scripts in Lua files', () => {
  const redis = new Redis(stackEnv().REDIS_URL);
  afterAll(() => redis.disconnect());

  it.each(scripts(LUA_DIR))('%s compiles in Redis, with its includes, and names its key count', async (file) => {
    const { lua, numberOfKeys } = luaScript(file);
    expect(numberOfKeys).toBeGreaterThan(0);
    expect(lua).not.toMatch(/--@include/);
    const sha = (await redis.script('LOAD', lua)) as string;
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
  });
});
