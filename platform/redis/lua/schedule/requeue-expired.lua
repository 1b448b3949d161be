-- KEYS: due leased dueAt lanes gated1 gated2 ; ARGV: now limit
--@keys 6
--@include lib/lane-requeue.lua

local gated = { KEYS[5], KEYS[6] }
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  requeue_to(KEYS[1], KEYS[4], gated, id, redis.call('HGET', KEYS[3], id) or ARGV[1])
  redis.call('HDEL', KEYS[3], id)
end
return #ids
