-- KEYS: due leased items dueAt final passing passedBy lanes gated1 gated2 ; ARGV: now, then (id dueAt payload source)…
-- One result per item, in order ('final', 'in-flight', 'again' or 'pass').
--@keys 10
--@include lib/lanes.lua

local gated = { KEYS[9], KEYS[10] }
local out = {}
for i = 2, #ARGV, 4 do
  local id, dueAt, payload, source = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local result
  if redis.call('ZSCORE', KEYS[5], id) then
    result = 'final'
  elseif redis.call('ZSCORE', KEYS[2], id) then
    result = 'in-flight'
  else
    local by = redis.call('HGET', KEYS[7], id)
    if by and by ~= source then
      result = 'in-flight'
    else
      redis.call('ZREM', KEYS[1], id)
      -- waiting in a gated lane (a replay found it due): it goes now, in this record's transaction
      ungate(KEYS[8], gated, id)
      redis.call('ZADD', KEYS[6], ARGV[1], id)
      redis.call('HSET', KEYS[7], id, source)
      redis.call('HSET', KEYS[3], id, payload)
      redis.call('HSET', KEYS[4], id, dueAt)
      result = by and 'again' or 'pass'
    end
  end
  out[#out + 1] = result
end
return out
