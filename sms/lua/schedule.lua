-- Schedule one reminder, idempotently, and give it a reply code unique for its number.
-- KEYS[1] reminder record, KEYS[2] DUE zset, KEYS[3] codes hash of the number
-- ARGV[1] reminder id, ARGV[2] due (epoch s), ARGV[3] record TTL s, ARGV[4..] field, value …
-- Returns {created (1|0), code, due}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'c'), redis.call('HGET', KEYS[1], 'due')}
end
-- Codes read like the reply grammar's letter codes: A1 … Z1, A2 … (no I or O,
-- which look like 1 and 0): 24 letters x 99 numbers per number.
local letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ'
local code = false
for _ = 1, 24 * 99 do
  local n = (redis.call('HINCRBY', KEYS[3], '_seq', 1) - 1) % (24 * 99)
  local candidate = string.sub(letters, n % 24 + 1, n % 24 + 1) .. tostring(math.floor(n / 24) + 1)
  if redis.call('HSETNX', KEYS[3], candidate, ARGV[1]) == 1 then
    code = candidate
    break
  end
end
if not code then
  return redis.error_reply('no free reply code for this number')
end
local fields = {'c', code, 'due', ARGV[2]}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if redis.call('TTL', KEYS[3]) < tonumber(ARGV[3]) then
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return {1, code, ARGV[2]}
