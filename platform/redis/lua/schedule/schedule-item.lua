-- KEYS: due leased items final passing ; ARGV: id dueAt payload
--@keys 5

if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 'final' end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[5], ARGV[1]) then return 'in-flight' end
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if added == 1 then return 'scheduled' end
return 'rescheduled'
