-- KEYS: due leased items dueAt final outcome leader lanes gated1 gated2 ; ARGV: token now id...
--@keys 10
--@include lib/leader.lua
--@include lib/finalize.lua
--@include lib/lanes.lua

if leader_refused(KEYS[7], ARGV[1]) then return redis.error_reply('NOT_LEADER') end
local gated = { KEYS[9], KEYS[10] }
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  redis.call('ZREM', KEYS[1], id)
  ungate(KEYS[8], gated, id)
  n = n + redis.call('ZREM', KEYS[2], id)
  finalize(KEYS[3], KEYS[4], KEYS[5], KEYS[6], id, ARGV[2], 'released')
end
return n
