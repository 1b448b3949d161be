-- KEYS: due leased dueAt ; ARGV: now limit
--@keys 3

local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[3], id) or ARGV[1], id)
  redis.call('HDEL', KEYS[3], id)
end
return #ids
