-- KEYS: passing passedBy items dueAt final outcome ; ARGV: now id...
--@keys 6
--@include lib/finalize.lua

local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    finalize(KEYS[3], KEYS[4], KEYS[5], KEYS[6], id, ARGV[1], 'released')
    n = n + 1
  end
end
return n
