-- KEYS: o n feedseq feedPrefix
-- ARGV: creator status occurredAt notificationId channel(not stored) destination description now orderId expiresAt
--       retentionMs orderKeyPrefix source fallback(JSON, or '') month(YYYY-MM, or '') smsCount(or '')
--       metricsPrefix('' when not counting) metricsTtl gatewayReference(or '') customBodyLength(or '')
--       dailyKey dailyMember dailyTtl
-- Returns {result, the notification's previous status, its expiry[, fallback JSON]}; result is
-- 'complete' when the order is Processed and none of its notifications is pending.
-- Fallback (an extension): a New event may carry its recipient's fallback {group, members,
-- notifications}, kept under '~' .. group (first write wins), the group named in the
-- notification's entry (`f`). When an event leaves every member of a group finally failed, the
-- group fires: its notifications are written as New (so the order is not complete) and the
-- result is 'fallback' with the group's JSON, for the caller to send. Like the completion, only
-- the applying record that fired it (kept under '!' .. group) is told 'fallback', again when it
-- is handled again after its transaction was aborted. The groups are dropped when the order
-- completes. With a `source` (the input
-- record that applies the event, partition:offset), only the first record to find the order
-- complete gets 'complete' ('completing' for any other): that record, handled again after its
-- transaction was aborted, gets 'complete' again, so the completion is written exactly once. The order's keys are kept
-- retentionMs after this update; a creator's feed drops entries whose order is gone.
-- A notification is stored in the order's hash, under '#' .. its id, as compact JSON {d, s, m, u,
-- e} (destination, status, description, lastUpdate, expiresAt; its channel is its status's
-- prefix, and entries written before with a `c` keep it). Notifications written
-- before, in the order's separate notification hash (KEYS[2]) and with the long names, are still
-- read, and kept as long as the order.
-- The monthly metrics (the reference's get_metrics_v2), in one hash per month of the orders'
-- requested send times (metricsPrefix .. month, fields kind|creator): a notification counts once
-- as it is created (e, or s by the SMS messages it counts for), and the succeeded ones (es, ss:
-- Email Succeeded or Delivered, SMS Accepted or Delivered) as their status enters or leaves
-- those, so a replay, which changes no status, counts nothing again.
-- The daily exports (the reference's get_sms_metrics / get_email_metrics: a channel's
-- notifications whose result was last set that UTC day, once it is more than New, Sending and
-- Accepted / Succeeded, which is a final status): the write that makes a notification final adds
-- it to the set of the event's day (dailyKey) as dailyMember (its order's and its own id) and the
-- gateway's reference. Until then the entry keeps the reference (`g`, as the gateway accepted the
-- notification: later events leave it out, or give a receipt's form of it); a final entry keeps
-- neither it nor its expiry (`e`: nothing waits for it any more), so the order's hash does not
-- carry them for its whole retention. An SMS's customized text's length (`l`) stays.
--@keys 4
--@include lib/view-ranks.lua

local status = ARGV[2]
local at = ARGV[3]
local notifPrev = ''
local notifExpires = ''
local fired = nil
-- a notification status that ends it without a delivery (the fallback's trigger)
local function failed(s)
  return s ~= nil and notifRank(s) == 4 and s ~= 'Email_Delivered' and s ~= 'SMS_Delivered'
end
local current = redis.call('HGET', KEYS[1], 'status')
if ARGV[4] == '' then
  local cur = orderRank(current or '')
  if cur < 4 and orderRank(status) >= cur then
    redis.call('HSET', KEYS[1], 'status', status, 'statusAt', at)
    if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'description', ARGV[7]) end
    if status == 'Order_Processed' or status == 'Order_Completed' then
      redis.call('HSETNX', KEYS[1], 'processedAt', at)
    end
    -- a direct producer's order the pipeline refused is no placed order: uncounted, if order-view
    -- counted it already (else put-order, finding this status, does not count it)
    if status == 'Order_Rejected' and ARGV[17] ~= '' and redis.call('HEXISTS', KEYS[1], 'order') == 1 then
      local month = redis.call('HGET', KEYS[1], 'mo')
      if month then redis.call('HINCRBY', ARGV[17] .. month, 'o|' .. ARGV[1], -1) end
    end
    if (status == 'Order_Completed' or status == 'Order_SendConditionNotMet')
        and not redis.call('HGET', KEYS[1], 'feedSeq') then
      local seq = redis.call('INCR', KEYS[3])
      redis.call('HSET', KEYS[1], 'feedSeq', seq, 'feedAt', ARGV[8])
      local feed = KEYS[4] .. ARGV[1]
      redis.call('ZADD', feed, seq, ARGV[9])
      redis.call('PEXPIRE', feed, ARGV[11])
      -- the oldest entries whose order has expired leave the feed (a couple per insertion)
      local oldest = redis.call('ZRANGE', feed, 0, 1)
      for i = 1, #oldest do
        if redis.call('EXISTS', ARGV[12] .. oldest[i] .. '}') == 0 then redis.call('ZREM', feed, oldest[i]) end
      end
    end
    current = status
  end
else
  -- the order's month, from the event that creates a notification or as kept before
  local month = ARGV[15] ~= '' and ARGV[15] or nil
  if month then redis.call('HSETNX', KEYS[1], 'mo', month) end
  if ARGV[16] ~= '' then redis.call('HSETNX', KEYS[1], 'sc', ARGV[16]) end
  local function count(kind, n)
    if ARGV[17] == '' or n == 0 then return end
    month = month or redis.call('HGET', KEYS[1], 'mo')
    if not month then return end
    local metrics = ARGV[17] .. month
    -- (the expiry is set as a field is first written: a month's fields are, within weeks of it)
    if redis.call('HINCRBY', metrics, kind .. '|' .. ARGV[1], n) == n then redis.call('PEXPIRE', metrics, ARGV[18]) end
  end
  local function created(s)
    if string.sub(s, 1, 4) == 'SMS_' then
      count('s', tonumber(ARGV[16]) or tonumber(redis.call('HGET', KEYS[1], 'sc') or '') or 1)
    else
      count('e', 1)
    end
  end
  local function succeeded(s)
    return s == 'Email_Succeeded' or s == 'Email_Delivered' or s == 'SMS_Accepted' or s == 'SMS_Delivered'
  end
  -- a result the daily exports list (past New, Sending and Accepted / Succeeded: final); the
  -- reader's re-check is store.ts's exportedStatus, and test/gateway/daily-metrics.test.ts
  -- holds the two to the same statuses
  local function exported(s)
    return notifRank(s) == 4
  end
  local field = '#' .. ARGV[4]
  local prev = redis.call('HGET', KEYS[1], field) or redis.call('HGET', KEYS[2], ARGV[4])
  local prevStatus = ''
  local pv = nil
  if prev then
    pv = cjson.decode(prev)
    prevStatus = pv.s or pv.status
  end
  local next = status
  -- a transient failure is never kept: the notification is New again and is re-sent
  if status == 'Email_Failed_TransientError' then next = 'Email_New' end
  local pr = 0
  local expires = ARGV[10]
  if prev then
    pr = notifRank(prevStatus)
    if expires == '' then expires = pv.e or pv.expiresAt or '' end
  end
  notifPrev = prevStatus
  notifExpires = expires
  local group = pv and pv.f or nil
  if ARGV[14] ~= '' then
    local fb = cjson.decode(ARGV[14])
    group = fb.group
    redis.call('HSETNX', KEYS[1], '~' .. group, ARGV[14])
  end
  if pr < 4 and (notifRank(next) >= pr or status == 'Email_Failed_TransientError') then
    -- the gateway's reference as it accepted the notification (SMS_Accepted, Email_Succeeded:
    -- the SMSC's message id as it answered the submit, where receipts give a canonical form),
    -- else the first given
    local ref = pv and pv.g or nil
    if ARGV[19] ~= '' and (ref == nil or status == 'SMS_Accepted' or status == 'Email_Succeeded') then
      ref = ARGV[19]
    end
    -- (an empty description or destination, or an unknown expiry, is left out: nil drops the key)
    -- (the channel is not stored: the status names it, SMS_… or Email_…)
    redis.call('HSET', KEYS[1], field, cjson.encode({
      d = ARGV[6] ~= '' and ARGV[6] or nil, s = next, m = ARGV[7] ~= '' and ARGV[7] or nil,
      u = tonumber(at), e = not exported(next) and tonumber(expires) or nil, f = group,
      g = not exported(next) and ref or nil,
      l = tonumber(ARGV[20]) or (pv and pv.l or nil)
    }))
    -- (an entry written before in the separate hash is now the order's)
    redis.call('HDEL', KEYS[2], ARGV[4])
    if exported(next) and ARGV[22] ~= '' then
      redis.call('SADD', ARGV[21], ARGV[22] .. (ref or ''))
      redis.call('PEXPIRE', ARGV[21], ARGV[23])
    end
    if not prev then created(next) end
    local delta = (succeeded(next) and 1 or 0) - (succeeded(prevStatus) and 1 or 0)
    if delta ~= 0 then count(string.sub(next, 1, 4) == 'SMS_' and 'ss' or 'es', delta) end
  end
  if group and failed(next) then
    local payload = redis.call('HGET', KEYS[1], '~' .. group)
    local by = redis.call('HGET', KEYS[1], '!' .. group)
    if payload and by then
      if ARGV[13] ~= '' and by == ARGV[13] then fired = payload end
    elseif payload then
      local fb = cjson.decode(payload)
      local all = true
      for i = 1, #fb.members do
        local m = redis.call('HGET', KEYS[1], '#' .. fb.members[i])
        if not m or not failed(cjson.decode(m).s) then all = false end
      end
      if all then
        redis.call('HSET', KEYS[1], '!' .. group, ARGV[13] ~= '' and ARGV[13] or '-')
        for i = 1, #fb.notifications do
          local n = fb.notifications[i]
          local s = n.channel == 'Sms' and 'SMS_New' or 'Email_New'
          -- (an SMS keeps its text's length in characters, UTF-8 bytes that start one: the daily
          -- export reports it when the order's text has keywords, as resolve-channel's New event)
          local new = redis.call('HSETNX', KEYS[1], '#' .. n.notificationId, cjson.encode({
            d = n.destination, s = s, u = tonumber(at),
            l = n.channel == 'Sms' and select(2, string.gsub(n.body, '[^\128-\191]', '')) or nil
          }))
          if new == 1 then created(s) end
        end
        if ARGV[13] ~= '' then fired = payload end
      end
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[11])
-- (a no-op once no notification of the order is left in the separate hash)
redis.call('PEXPIRE', KEYS[2], ARGV[11])
if fired then return { 'fallback', notifPrev, notifExpires, fired } end
if current == 'Order_Processed' then
  local pending = function(json)
    local v = cjson.decode(json)
    return notifRank(v.s or v.status) < 4
  end
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 1) == '#' and pending(fields[i + 1]) then
      return { 'pending', notifPrev, notifExpires }
    end
  end
  local legacy = redis.call('HVALS', KEYS[2])
  for i = 1, #legacy do
    if pending(legacy[i]) then return { 'pending', notifPrev, notifExpires } end
  end
  if ARGV[13] ~= '' then
    local by = redis.call('HGET', KEYS[1], 'completedBy')
    -- (written before as topic:partition:offset, now partition:offset: the topic is always status)
    if by and by ~= ARGV[13] and string.sub(by, -(#ARGV[13] + 1)) ~= ':' .. ARGV[13] then
      return { 'completing', notifPrev, notifExpires }
    end
    redis.call('HSET', KEYS[1], 'completedBy', ARGV[13])
  end
  -- the fallback groups are settled now (fired, or a member delivered): not kept for the retention
  for i = 1, #fields, 2 do
    local c = string.sub(fields[i], 1, 1)
    if c == '~' or c == '!' then redis.call('HDEL', KEYS[1], fields[i]) end
  end
  return { 'complete', notifPrev, notifExpires }
end
return { 'ok', notifPrev, notifExpires }
