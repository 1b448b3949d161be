-- KEYS: due items dueAt final outcome leased passing lanes gated1 gated2 ; ARGV: now id outcome
--@keys 10
--@include lib/finalize.lua
--@include lib/lanes.lua

if redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 'final' end
if redis.call('ZSCORE', KEYS[6], ARGV[2]) or redis.call('ZSCORE', KEYS[7], ARGV[2]) then return 'in-flight' end
redis.call('ZREM', KEYS[1], ARGV[2])
ungate(KEYS[8], { KEYS[9], KEYS[10] }, ARGV[2])
finalize(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], ARGV[1], ARGV[3])
return 'settled'
