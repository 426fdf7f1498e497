-- Apply one delivery receipt to its message, or park it until the message is recorded.
-- KEYS[1] carrier-id key, KEYS[2] early-receipt key
-- ARGV[1] carrier id, ARGV[2] state, ARGV[3] early TTL, ARGV[4] message key prefix
-- (the message key is derived from the id stored under KEYS[1]; same {hcp} slot).
local mid = redis.call('GET', KEYS[1])
if mid then
  redis.call('HSET', ARGV[4] .. mid, 's:' .. ARGV[1], ARGV[2])
  return mid
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return false
