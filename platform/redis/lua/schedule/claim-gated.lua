-- KEYS: gated leased items dueAt leader lanes ; ARGV: now budget limit leaseUntil token ('' = no leader check)
-- Claims the lane's due items in due order while their costs fit in `budget` (the first always,
-- so an item dearer than any budget still goes), at most `limit` of them. Returns the cost
-- claimed, then id, due time and payload per item.
--@keys 6
--@include lib/leader.lua
--@include lib/lease.lua

if leader_refused(KEYS[5], ARGV[5]) then return redis.error_reply('NOT_LEADER') end
local budget = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local spent = 0
local out = { '0' }
for i = 1, #ids, 2 do
  local id, due = ids[i], ids[i + 1]
  local cost = tonumber(string.match(redis.call('HGET', KEYS[6], id) or '0:1', ':(%d+)$')) or 1
  if spent > 0 and spent + cost > budget then break end
  spent = spent + cost
  lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], id, due, ARGV[4], out)
end
out[1] = tostring(spent)
return out
