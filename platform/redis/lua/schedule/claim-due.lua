-- KEYS: due leased items dueAt leader ; ARGV: now limit leaseUntil token ('' = no leader check)
--@keys 5
--@include lib/leader.lua
--@include lib/lease.lua

if leader_refused(KEYS[5], ARGV[4]) then return redis.error_reply('NOT_LEADER') end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #ids, 2 do
  lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ids[i], ids[i + 1], ARGV[3], out)
end
return out
