-- KEYS: o ref chain (ref and chain may be '') ; ARGV: order (Avro) creator orderId status statusAt retentionMs
--       month smsCount metricsPrefix metricsTtl
-- (creator is not stored: the order carries it; hashes written before have a creator field)
-- Records an order (first write wins); every key it writes is kept retentionMs from now. Keeps
-- the month of its requested send time (`mo`, YYYY-MM) and what one of its SMS counts for
-- (`sc`), for the monthly metrics, and counts the order in its month's (metricsPrefix .. month,
-- kept metricsTtl; '' when not counting, as in a rebuild) once, when it is new (and not refused:
-- apply-status.lua takes it back if it is refused after).
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
if ARGV[7] ~= '' then redis.call('HSETNX', KEYS[1], 'mo', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSETNX', KEYS[1], 'sc', ARGV[8]) end
-- (not an order the pipeline refused already: it is no placed order)
if fresh == 1 and ARGV[9] ~= '' and ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'status') ~= 'Order_Rejected' then
  local metrics = ARGV[9] .. ARGV[7]
  if redis.call('HINCRBY', metrics, 'o|' .. ARGV[2], 1) == 1 then redis.call('PEXPIRE', metrics, ARGV[10]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return fresh
