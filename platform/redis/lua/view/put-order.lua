-- KEYS: o ref chain (ref and chain may be '') ; ARGV: order (Avro) creator orderId status statusAt retentionMs
-- (creator is not stored: the order carries it; hashes written before have a creator field)
-- Records an order (first write wins); every key it writes is kept retentionMs from now.
--@keys 3

local fresh = redis.call('HSETNX', KEYS[1], 'order', ARGV[1])
if KEYS[2] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
if KEYS[3] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
if ARGV[4] ~= '' then
  redis.call('HSETNX', KEYS[1], 'status', ARGV[4])
  redis.call('HSETNX', KEYS[1], 'statusAt', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return fresh
