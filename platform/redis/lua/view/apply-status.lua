-- KEYS: o n feedseq feedPrefix ; ARGV: creator status occurredAt notificationId channel destination description now orderId expiresAt
-- Returns {result, the notification's previous status, its expiry}; result is 'complete' when
-- the order is Processed and none of its notifications is pending.
--@keys 4
--@include lib/view-ranks.lua

local status = ARGV[2]
local at = ARGV[3]
local notifPrev = ''
local notifExpires = ''
redis.call('HSETNX', KEYS[1], 'creator', ARGV[1])
local current = redis.call('HGET', KEYS[1], 'status')
if ARGV[4] == '' then
  local cur = orderRank(current or '')
  if cur < 4 and orderRank(status) >= cur then
    redis.call('HSET', KEYS[1], 'status', status, 'statusAt', at)
    if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'description', ARGV[7]) end
    if status == 'Order_Processed' or status == 'Order_Completed' then
      redis.call('HSETNX', KEYS[1], 'processedAt', at)
    end
    if (status == 'Order_Completed' or status == 'Order_SendConditionNotMet')
        and not redis.call('HGET', KEYS[1], 'feedSeq') then
      local seq = redis.call('INCR', KEYS[3])
      redis.call('HSET', KEYS[1], 'feedSeq', seq, 'feedAt', ARGV[8])
      redis.call('ZADD', KEYS[4] .. ARGV[1], seq, ARGV[9])
    end
    current = status
  end
else
  local prev = redis.call('HGET', KEYS[2], ARGV[4])
  local prevStatus = ''
  if prev then prevStatus = cjson.decode(prev).status end
  local next = status
  -- a transient failure is never kept: the notification is New again and is re-sent
  if status == 'Email_Failed_TransientError' then next = 'Email_New' end
  local pr = 0
  local expires = ARGV[10]
  if prev then
    pr = notifRank(prevStatus)
    if expires == '' then expires = cjson.decode(prev).expiresAt or '' end
  end
  notifPrev = prevStatus
  notifExpires = expires
  if pr < 4 and (notifRank(next) >= pr or status == 'Email_Failed_TransientError') then
    redis.call('HSET', KEYS[2], ARGV[4], cjson.encode({
      channel = ARGV[5], destination = ARGV[6], status = next, description = ARGV[7], lastUpdate = tonumber(at),
      expiresAt = expires
    }))
  end
end
if current == 'Order_Processed' then
  local all = redis.call('HVALS', KEYS[2])
  for i = 1, #all do
    if notifRank(cjson.decode(all[i]).status) < 4 then return { 'pending', notifPrev, notifExpires } end
  end
  return { 'complete', notifPrev, notifExpires }
end
return { 'ok', notifPrev, notifExpires }
