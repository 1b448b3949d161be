-- KEYS: leader ; ARGV: token ttlMs — take the lock if free, or extend it if ours
--@keys 1

local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
