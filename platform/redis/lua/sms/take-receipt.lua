-- KEYS: ref early ; ARGV: stat parkSeconds
-- A receipt for a part's message id: returns the part's ref if its submit is recorded; else parks
-- the receipt's state under the id (record-part.lua applies it when the id is recorded) and
-- returns false.
--@keys 2

local ref = redis.call('GET', KEYS[1])
if ref then return ref end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return false
