import { afterAll, describe, expect, it } from 'vitest';
import { luaScript, luaScripts } from '../../platform/redis/lua.ts';
import { testRedis } from '../support/stack.ts';

describe('Redis scripts in Lua files', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it.each(luaScripts())('%s compiles in Redis, with its includes, and names its key count', async (file) => {
    const { lua, numberOfKeys } = luaScript(file);
    expect(numberOfKeys).toBeGreaterThan(0);
    expect(lua).not.toMatch(/--@include/);
    const sha = (await redis.script('LOAD', lua)) as string;
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
  });
});
