package redis

import goredis "github.com/redis/go-redis/v9"

// The transport's server-side steps. Each runs atomically in Redis, so a
// publish is stored, indexed, trimmed and announced with no other command
// in between: History never misses an update that a listener has seen,
// and the stream, the id index and the counter always agree.
//
// Data layout under the key prefix P (see keys):
//
//	P seq    string  the last sequence number handed out
//	P log    stream  one entry per update, id "<seq>-0", fields
//	                 i (update id), t (unix ms of Update.Time), d (binary update)
//	P ids    hash    update id -> seq of the newest entry with that id,
//	                 trimmed together with the stream
//	P live   channel one message per publish batch (see decodeBatch)
//	P b:<t>  string  first seq of an executed batch, kept while the batch
//	                 may be retried, so that a batch retried after a lost
//	                 reply is not stored twice
//
// Sequence numbers are Lua numbers (doubles) inside the scripts: exact up to
// 2^53, which a hub publishing a million updates a second reaches in 285
// years. Every number is formatted with %d, never tostring, which would
// switch to exponent notation.

// luaTrim is shared by the scripts that trim: it is prepended to them.
const luaTrim = `
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function seqof(id)
  return string.match(id, '^(%d+)')
end

-- trim drops entries from the head of the stream while there are more than
-- size (size <= 0: no count bound) or the head entry is older than cutoff
-- (unix ms; <= 0: no age bound), at most budget of them, and removes their
-- ids from the index unless a newer entry took the id over. Entries are in
-- publish order, so the scan stops at the first entry it keeps.
local function trim(stream, index, size, cutoff, budget)
  if size <= 0 and cutoff <= 0 then return 0 end
  local len = redis.call('XLEN', stream)
  local dropped, last, start = 0, nil, '-'
  -- Read no more than needed: the count excess, plus one entry to look at
  -- when there is an age bound; the page grows if more have expired.
  local page = 1
  if size > 0 and len > size then page = len - size + 1 end
  while dropped < budget and dropped < len do
    local want = math.min(budget - dropped, page, 512)
    if cutoff <= 0 then want = math.min(want, len - dropped - size) end
    if want <= 0 then break end
    local entries = redis.call('XRANGE', stream, start, '+', 'COUNT', want)
    local stop = false
    for _, e in ipairs(entries) do
      local over = size > 0 and len - dropped > size
      if not over and cutoff > 0 then
        over = tonumber(field(e[2], 't') or '0') < cutoff
      end
      if not over then
        stop = true
        break
      end
      local id = field(e[2], 'i')
      if id and id ~= '' and redis.call('HGET', index, id) == seqof(e[1]) then
        redis.call('HDEL', index, id)
      end
      dropped = dropped + 1
      last = e[1]
    end
    if stop or #entries < want then break end
    start = '(' .. last
    page = page * 2
  end
  if last then
    -- MINID keeps the entries at or after the given id: the one after last.
    redis.call('XTRIM', stream, 'MINID', string.format('%d', tonumber(seqof(last)) + 1))
  end
  return dropped
end
`

// publishScript stores a batch of updates and announces it.
//
//	KEYS: seq, log, ids, batch token key
//	ARGV: channel, high-water seq, size, cutoff ms, trim budget,
//	      token lifetime in seconds, n, then n triples: update id,
//	      unix ms, binary update
//
// It returns the first seq of the batch, as a decimal string; the batch's
// updates have consecutive seqs. A batch whose token was already executed
// returns that execution's first seq and changes nothing. The token lives
// only as long as a publish may be retried (a few times Config.Timeout).
//
// The high-water seq is the highest seq the calling node has seen. Taking
// the larger of it and the stored counter keeps seqs increasing even when
// Redis restarted without persistence and lost the counter: nodes would
// otherwise drop every new update as a duplicate of one they had already
// delivered.
var publishScript = goredis.NewScript(luaTrim + `
local done = redis.call('GET', KEYS[4])
if done then return done end
local n = tonumber(ARGV[7])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local hw = tonumber(ARGV[2])
if hw > cur then cur = hw end
local parts = {string.format('%d', cur + 1), ' ', string.format('%d', n), '\n'}
local index = {}
for i = 1, n do
  local b = 5 + 3 * i
  local seq = string.format('%d', cur + i)
  redis.call('XADD', KEYS[2], seq .. '-0', 'i', ARGV[b], 't', ARGV[b + 1], 'd', ARGV[b + 2])
  if ARGV[b] ~= '' then
    index[#index + 1] = ARGV[b]
    index[#index + 1] = seq
  end
  parts[#parts + 1] = string.format('%d', string.len(ARGV[b + 2]))
  parts[#parts + 1] = '\n'
  parts[#parts + 1] = ARGV[b + 2]
end
-- One HSET for the batch; a repeated id within it keeps the later seq.
if #index > 0 then redis.call('HSET', KEYS[3], unpack(index)) end
local first = string.format('%d', cur + 1)
redis.call('SET', KEYS[1], string.format('%d', cur + n))
trim(KEYS[2], KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
redis.call('SET', KEYS[4], first, 'EX', tonumber(ARGV[6]))
redis.call('PUBLISH', ARGV[1], table.concat(parts))
return first
`)

// historyScript applies the bounds, resolves a cursor and reads a page.
//
//	KEYS: log, ids
//	ARGV: size, cutoff ms, mode, cursor, limit
//
// mode "e" starts at the oldest entry kept, "s" at the stream id given as
// cursor (the entry after an AfterSeq), "i" after the entry of the update id
// given as cursor. It returns {found, entries} with entries as XRANGE gives
// them; found is 0 when an "i" cursor is unknown, evicted or expired, and the
// page then starts at the oldest entry kept.
//
// Trimming here, before reading, makes the bounds exact as a reader sees
// them even when no publish has trimmed lately. The budget bounds the time
// the script holds Redis; publishes and the periodic trim keep the backlog
// far below it.
var historyScript = goredis.NewScript(luaTrim + `
local size, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2])
trim(KEYS[1], KEYS[2], size, cutoff, 10000)
local found, start = 1, '-'
if ARGV[3] == 's' then
  start = ARGV[4]
elseif ARGV[3] == 'i' then
  found = 0
  local seq = redis.call('HGET', KEYS[2], ARGV[4])
  if seq then
    local e = redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
    if #e == 1 and (cutoff <= 0 or tonumber(field(e[1][2], 't') or '0') >= cutoff) then
      found = 1
      start = '(' .. e[1][1]
    end
  end
end
return {found, redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', tonumber(ARGV[5]))}
`)

// trimScript is the periodic trim: KEYS log, ids; ARGV size, cutoff ms,
// budget. It returns how many entries it dropped.
var trimScript = goredis.NewScript(luaTrim + `
return trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`)

// raiseScript sets the counter (KEYS[1]) to ARGV[1] if it is lower, and
// returns the counter's value before. A node runs it when it finds the
// counter behind what it has already delivered: Redis lost data.
var raiseScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return string.format('%d', cur)
`)
