-- KEYS: due leased dueAt leader lanes gated1 gated2 ; ARGV: token id...
--@keys 7
--@include lib/leader.lua
--@include lib/lane-requeue.lua

if leader_refused(KEYS[4], ARGV[1]) then return redis.error_reply('NOT_LEADER') end
local gated = { KEYS[6], KEYS[7] }
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[2], id) == 1 then
    requeue_to(KEYS[1], KEYS[5], gated, id, redis.call('HGET', KEYS[3], id) or 0)
    redis.call('HDEL', KEYS[3], id)
    n = n + 1
  end
end
return n
