-- Record a sent MT and apply any receipt that arrived before this record did
-- (fast SMSCs answer with the receipt before the submitter has written anything).
-- KEYS[1] message hash; KEYS[2 .. n+1] carrier-id keys; KEYS[n+2 .. 2n+1] early-receipt keys
-- ARGV[1] message id, ARGV[2] message TTL, ARGV[3] carrier-id TTL, ARGV[4] n,
-- ARGV[5] reminder id, ARGV[6] carrier, ARGV[7] sent_at, ARGV[8 .. n+7] carrier ids
-- Optionally also finish the reminder in the same step (the dispatcher's case):
-- KEYS[2n+2] DUE zset, KEYS[2n+3] reminder record; ARGV[n+8] its new state.
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'rid', ARGV[5], 'carrier', ARGV[6], 'sent_at', ARGV[7],
           'segments', tostring(n))
for i = 1, n do
  local early = redis.call('GET', KEYS[n + 1 + i])
  if early then redis.call('DEL', KEYS[n + 1 + i]) end
  redis.call('HSET', KEYS[1], 's:' .. ARGV[7 + i], early or 'sent')
  redis.call('SET', KEYS[1 + i], ARGV[1], 'EX', ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if #KEYS == 2 * n + 3 then
  redis.call('ZREM', KEYS[2 * n + 2], ARGV[5])
  if redis.call('EXISTS', KEYS[2 * n + 3]) == 1 then
    redis.call('HSET', KEYS[2 * n + 3], 'st', ARGV[n + 8], 'm', ARGV[1])
  end
end
return n
