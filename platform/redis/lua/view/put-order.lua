-- KEYS: o ref chain ; ARGV: orderJson creator orderId status statusAt
--@keys 3

local fresh = redis.call('HSETNX', KEYS[1], 'order', ARGV[1])
redis.call('HSETNX', KEYS[1], 'creator', ARGV[2])
if KEYS[2] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
redis.call('SADD', KEYS[3], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSETNX', KEYS[1], 'status', ARGV[4])
  redis.call('HSETNX', KEYS[1], 'statusAt', ARGV[5])
end
return fresh
