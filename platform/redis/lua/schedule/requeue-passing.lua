-- KEYS: passing passedBy due dueAt leader ; ARGV: token olderThan id...
-- Only claims still older than olderThan: a stage that claimed one again meanwhile keeps it.
--@keys 5
--@include lib/leader.lua

if leader_refused(KEYS[5], ARGV[1]) then return redis.error_reply('NOT_LEADER') end
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local at = redis.call('ZSCORE', KEYS[1], id)
  if at and tonumber(at) < tonumber(ARGV[2]) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[4], id) or 0, id)
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
return n
