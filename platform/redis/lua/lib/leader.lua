-- Only the releaser holding the leadership may run a script that includes this: the key holds
-- the leader's token; a caller with token '' needs no leadership.
local function leader_refused(leader_key, token)
  return token ~= '' and redis.call('GET', leader_key) ~= token
end
