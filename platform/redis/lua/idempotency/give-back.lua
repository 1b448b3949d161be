-- KEYS: key ; ARGV: lease how ('drop' | 'lapse')
-- Gives back a claim this request made (or took over) and will not use, its replicas' wait
-- refused: only while it is still that claim (pending, with the lease it set), so a give-back
-- tried again late cannot touch a claim made since. 'drop' deletes a new claim (a retry starts
-- afresh); 'lapse' ends a taken-over claim's lease (a retry takes it over at once). 1 when given
-- back, 0 when the claim is not there as this request left it.
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
