-- Order states only move forward; the three final ones never change. Notification states likewise.
local function orderRank(s)
  if s == 'Order_Registered' then return 1 end
  if s == 'Order_Processing' then return 2 end
  if s == 'Order_Processed' then return 3 end
  if s == 'Order_Completed' or s == 'Order_SendConditionNotMet' or s == 'Order_Cancelled' or s == 'Order_Rejected' then return 4 end
  return 0
end
local function notifRank(s)
  if s == 'Email_New' or s == 'SMS_New' then return 1 end
  if s == 'Email_Sending' or s == 'SMS_Sending' then return 2 end
  if s == 'Email_Succeeded' or s == 'SMS_Accepted' then return 3 end
  return 4
end
