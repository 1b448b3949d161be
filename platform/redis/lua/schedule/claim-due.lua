-- KEYS: due leased items dueAt leader ; ARGV: now limit leaseUntil token ('' = no leader check)
--@keys 5
--@include lib/leader.lua

if leader_refused(KEYS[5], ARGV[4]) then return redis.error_reply('NOT_LEADER') end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #ids, 2 do
  local id, due = ids[i], ids[i + 1]
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  redis.call('HSET', KEYS[4], id, due)
  out[#out + 1] = id
  out[#out + 1] = due
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
return out
