-- KEYS: ref early ; ARGV: ref (JSON) ttlSeconds
-- Records what an accepted part's message id stands for, and returns the state of a receipt that
-- came before it (parked by take-receipt.lua), if any. One script with take-receipt.lua's, so a
-- receipt racing its submit's bookkeeping is either found by it or finds the ref: never neither.
--@keys 2

redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return redis.call('GET', KEYS[2])
