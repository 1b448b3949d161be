-- KEYS: due leased dueAt leader ; ARGV: token id...
--@keys 4
--@include lib/leader.lua

if leader_refused(KEYS[4], ARGV[1]) then return redis.error_reply('NOT_LEADER') end
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[2], id) == 1 then
    redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[3], id) or 0, id)
    redis.call('HDEL', KEYS[3], id)
    n = n + 1
  end
end
return n
