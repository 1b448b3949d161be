-- KEYS: key ; ARGV: lease how ('drop' | 'lapse')
-- Gives back a claim this request made (or took over) and will not finish (its replicas' wait
-- refused, its lookup or publish failed, its client hung up): only while it is still that claim
-- (pending, with the lease it set), so a give-back that comes late (the lease ran out and another
-- request took the claim over, or finished it) touches nothing. 'drop' deletes it (nothing was
-- published: a retry starts afresh); 'lapse' ends its lease and keeps its records (they may have
-- been written: a retry takes it over at once). 1 when given back, 0 when the claim is not there
-- as this request left it.
--@keys 1

local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) == '=' then return 0 end
local v = cjson.decode(cur)
if v.state ~= 'pending' or v.lease ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == 'drop' then
  redis.call('DEL', KEYS[1])
else
  v.lease = 0
  redis.call('SET', KEYS[1], cjson.encode(v), 'KEEPTTL')
end
return 1
