-- Take one number's reminders that fall due together into one text (issue 12).
-- KEYS[1] codes hash of the number, KEYS[2] DUE zset
-- ARGV[1] leader reminder id, ARGV[2] window end (epoch s), ARGV[3] record key prefix,
-- ARGV[4] now
-- The leader must still be pending and due (else another dispatcher's group took it, or
-- gave it back after a failed send with a later due time: returns false). Every other
-- reminder of the number that is pending (in DUE) and whose own due time (field due,
-- not the DUE score, which a claim pushes to the lease end) is by the window end
-- (or already grouped under this leader by a process that died before sending) is marked
-- st=grouped, g=leader and leaves DUE, so no other dispatcher sends it alone. The leader
-- record keeps the list in field gs (to release them if the send fails).
-- Records are named from the codes hash (same {hcp} hash tag: one cluster slot).
-- Returns {leader, sibling …}.
local prefix = ARGV[3]
local leader = ARGV[1]
if redis.call('HGET', prefix .. leader, 'st') ~= 'pending'
    or tonumber(redis.call('HGET', prefix .. leader, 'due') or '0') > tonumber(ARGV[4]) then
  return false
end
local out = {leader}
local codes = redis.call('HGETALL', KEYS[1])
for i = 1, #codes, 2 do
  local rid = codes[i + 1]
  if codes[i] ~= '_seq' and rid ~= leader then
    local record = prefix .. rid
    local state = redis.call('HGET', record, 'st')
    local mine = state == 'grouped' and redis.call('HGET', record, 'g') == leader
    local due = tonumber(redis.call('HGET', record, 'due') or 'inf')
    local queued = redis.call('ZSCORE', KEYS[2], rid)
    if mine or (state == 'pending' and queued and due <= tonumber(ARGV[2])) then
      redis.call('HSET', record, 'st', 'grouped', 'g', leader)
      redis.call('ZREM', KEYS[2], rid)
      out[#out + 1] = rid
    end
  end
end
redis.call('HSET', prefix .. leader, 'gs', table.concat(out, ',', 2))
return out
