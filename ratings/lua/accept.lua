-- accept.lua: accept or refuse one evaluation in one atomic step (seed art. 14).
-- Called by ratings/intake.py with EVALSHA; see that module for the rules.
--
-- KEYS[1]   status hash of this evaluation          {hcp}:ev:<id>
-- KEYS[2]   outbox stream                            {hcp}:outbox
-- KEYS[3]   first record of this evaluation          {hcp}:first:<id>
-- KEYS[4]   target dedupe key (item, batch, theme or staff)
-- KEYS[5..] item dedupe keys of a batch or theme, in the order of ARGV[12..]
--
-- ARGV: 1 id, 2 ev JSON, 3 mode (single|batch|theme|follow), 4 now (epoch ms),
--       5 now (ISO 8601), 6 follow-up window (ms), 7 dedupe TTL (s), 8 record TTL (s),
--       9 consumer group, 10 covers JSON ('' = take the first's covers: batch/theme
--       follow-up), 11 first-record key prefix, 12.. item ids of a batch or theme
--
-- Returns {code, evaluation id}: code "accepted" (id = this one), "replay" (this
-- very id was accepted before; nothing written), or a refusal code with the id
-- that holds the key. A refusal writes nothing: every check precedes every write.
--
-- The follow-up branch reads the first record of the holder, a key whose name is
-- known only here; it carries the same {hcp} hash tag, so it is in the same
-- Cluster slot as the declared keys.

local id, ev, mode = ARGV[1], ARGV[2], ARGV[3]
local now_ms = tonumber(ARGV[4])
local now_iso = ARGV[5]
local window_ms = tonumber(ARGV[6])
local dedupe_ttl = tonumber(ARGV[7])
local record_ttl = tonumber(ARGV[8])
local group = ARGV[9]
local covers = ARGV[10]
local first_prefix = ARGV[11]
local ITEM_ARGV = 11 -- ARGV[ITEM_ARGV + i] is the item id of KEYS[4 + i]

local target = KEYS[4]
local holder = redis.call('GET', target)
local function id_in_use()
  -- an evaluation id is used once: a different evaluation reusing it would be lost
  -- at the store, whose idempotency key derives from the id
  return redis.call('EXISTS', KEYS[1], KEYS[3]) > 0
end

if mode == 'follow' then
  if not holder then
    return {'no_first_evaluation', ''}
  end
  local first = first_prefix .. holder
  local rec = redis.call('HMGET', first, 'at', 'covers', 'fu')
  if not rec[1] then
    return {'no_first_evaluation', holder}
  end
  if rec[3] then
    if rec[3] == id then
      return {'replay', id}
    end
    return {'follow_up_already_given', rec[3]}
  end
  if now_ms - tonumber(rec[1]) > window_ms then
    return {'follow_up_window_closed', holder}
  end
  if id_in_use() then
    return {'already_evaluated', id}
  end
  if covers == '' then
    covers = rec[2]
  end
  redis.call('HSET', first, 'fu', id)
else
  if holder then
    if holder == id then
      return {'replay', id}
    end
    return {'already_evaluated', holder}
  end
  if id_in_use() then
    return {'already_evaluated', id}
  end
  if mode == 'batch' then
    -- all or nothing: one rated item refuses the whole batch
    for i = 5, #KEYS do
      local h = redis.call('GET', KEYS[i])
      if h then
        return {'already_evaluated', h}
      end
    end
    for i = 5, #KEYS do
      redis.call('SET', KEYS[i], id, 'EX', dedupe_ttl)
    end
  elseif mode == 'theme' then
    -- the overall rating covers the linked items not rated on their own
    local ids = {}
    local last_holder = ''
    for i = 5, #KEYS do
      local h = redis.call('GET', KEYS[i])
      if h then
        last_holder = h
      else
        ids[#ids + 1] = ARGV[ITEM_ARGV + i - 4]
        redis.call('SET', KEYS[i], id, 'EX', dedupe_ttl)
      end
    end
    if #ids == 0 then
      return {'already_evaluated', last_holder}
    end
    covers = cjson.encode(ids)
  end
  redis.call('SET', target, id, 'EX', dedupe_ttl)
  redis.call('HSET', KEYS[3], 'at', now_ms, 'covers', covers)
  redis.call('EXPIRE', KEYS[3], dedupe_ttl)
end

if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[2], group, '0', 'MKSTREAM')
end
redis.call('HSET', KEYS[1], 'id', id, 'status', 'accepted', 'attempts', 0, 'last_error', '',
  'accepted_at', now_iso, 'submitted_at', '', 'ev', ev, 'covers', covers)
redis.call('EXPIRE', KEYS[1], record_ttl)
redis.call('XADD', KEYS[2], '*', 'id', id, 'ev', ev, 'covers', covers)
return {'accepted', id}
