-- submitted.lua: close a batch of evaluations the core store has taken (ratings/submitter.py).
--
-- KEYS[1..n]  status hashes {hcp}:ev:<id> of the evaluations, in the order of ARGV[4..]
-- KEYS[n+1]   outbox stream {hcp}:outbox
-- ARGV: 1 submitted_at (ISO 8601), 2 status TTL (s), 3 consumer group, 4.. outbox entry ids
--
-- Status writes come before XACK/XDEL: never an acknowledged entry without its status.
-- One script per batch instead of five commands per evaluation: the submitter's Redis
-- cost per evaluation is one share of one round trip.

local n = #KEYS - 1
local outbox = KEYS[n + 1]
for i = 1, n do
  -- only a status that exists: after a Redis failover the promoted replica may lack an
  -- evaluation the old primary accepted and the store took; creating its status here
  -- would answer the client's retry "already evaluated" under its own id
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], 'status', 'submitted', 'submitted_at', ARGV[1])
    redis.call('HINCRBY', KEYS[i], 'attempts', 1)
    redis.call('EXPIRE', KEYS[i], ARGV[2])
  end
end
redis.call('XACK', outbox, ARGV[3], unpack(ARGV, 4))
return redis.call('XDEL', outbox, unpack(ARGV, 4))
