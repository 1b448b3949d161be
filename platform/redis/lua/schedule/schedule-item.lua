-- KEYS: due leased items final passing lanes gated1 gated2 ; ARGV: id dueAt payload lane (0: none, else 1 or 2) cost
--@keys 8
--@include lib/lanes.lua

if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 'final' end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[5], ARGV[1]) then return 'in-flight' end
local gated = { KEYS[7], KEYS[8] }
local was = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
if ungate(KEYS[6], gated, ARGV[1]) then was = true end
local lane = tonumber(ARGV[4])
if lane > 0 then
  redis.call('ZADD', gated[lane], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[6], ARGV[1], lane .. ':' .. ARGV[5])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if was then return 'rescheduled' end
return 'scheduled'
