-- Claim due reminders: move each one's score to the end of a lease, atomically,
-- so two dispatchers never take the same reminder; a crashed dispatcher's claims
-- fall due again when the lease ends.
-- KEYS[1] DUE zset; ARGV[1] now, ARGV[2] lease end, ARGV[3] max count. Returns ids.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return ids
