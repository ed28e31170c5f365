/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package shared

import "github.com/redis/go-redis/v9"

// sharedScript is the whole shared limiter: one Lua script, so that every
// dimension of a key or limit group is read, checked and written atomically
// in one round trip. It keeps the same model as Local (a token bucket per
// dimension refilling over one window, debt allowed, the configured and the
// learned limit, the output estimate and the output held by requests in
// flight), in one Redis value per limiter (a MessagePack map: one GET and
// one SET with the TTL, decoded and encoded in C), with Redis's TIME as the
// clock so that replicas with skewed clocks agree.
//
// No existing library fits: go-redis/redis_rate and Envoy's ratelimit keep
// one dimension per key (GCRA or fixed windows) and cannot check four
// dimensions and take from all or none of them at once, nor settle a
// reservation with real usage afterwards.
//
// KEYS[1] is the limiter's key. ARGV: 1 op, 2 window (µs), 3 TTL (ms),
// 4..7 configured limits, then the op's arguments:
//
//	r (reserve): 8 input tokens, 9 expected output tokens (negative: the
//	            learned average), 10 whether that output is held ("0": the
//	            provider admitted it at the start, see ReserveAdmitted)
//	s (settle): 8..10 deltas of dims 2..4, 11..12 held output of dims 3..4
//	            returned, 13 output tokens used (for the estimate)
//	o (observe): per dim d (4 args from 8+4(d-1)): limit, remaining, µs
//	            until the reported reset less the slack ("" = none), reset
//	            time as the caller sent it
//	c (cool down): 8 µs
//	u (used elsewhere): 8..11 what to take per dimension (what a replica
//	            admitted on its local limits while Redis was away)
//	l, q: nothing (the configured limits apply; q reads the state)
//
// It returns {result, taken1..4, output3, output4, expect, blocked µs left,
// then per dim: limit, configured, learned, level (string), then held3,
// held4, reset1..4}. Levels are strings: Redis truncates Lua numbers to
// integers on the way out.
const sharedScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local key = KEYS[1]
local op = ARGV[1]
local W = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local eps = 1e-6
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])

local s = {}
local raw = redis.call('GET', key)
if raw then s = cmsgpack.unpack(raw) end
local function num(f) return tonumber(s[f]) or 0 end

local el = 0
if s.t then el = math.max(now - tonumber(s.t), 0) end
local C, G, M, V, H = {}, {}, {}, {}, {}
for i = 1, 4 do
  C[i] = num('c' .. i); G[i] = num('g' .. i); M[i] = num('m' .. i); H[i] = num('h' .. i)
  V[i] = 0
  if M[i] > 0 then V[i] = math.min(M[i], num('v' .. i) + el * M[i] / W) end
end

-- usage while a dimension's limit is unknown: a sliding-window counter
local function roll(i)
  local st = num('w' .. i)
  if now < st + W then return end
  if now < st + 2 * W then s['p' .. i] = num('u' .. i) else s['p' .. i] = 0 end
  s['u' .. i] = 0
  s['w' .. i] = now - (now - st) % W
end
local function shadowAdd(i, n) roll(i); s['u' .. i] = num('u' .. i) + n end
local function shadowUsed(i)
  roll(i)
  local frac = (now - num('w' .. i)) / W
  return math.max(num('p' .. i) * (1 - frac) + num('u' .. i), 0)
end

local function setLimits(i, c, g)
  C[i], G[i] = math.max(c, 0), math.max(g, 0)
  local e = C[i]
  if G[i] > 0 and (e == 0 or G[i] < e) then e = G[i] end
  if e == M[i] then return end
  if e == 0 then
    local used = math.max(M[i] - V[i], 0)
    s['w' .. i], s['u' .. i], s['p' .. i] = 0, 0, 0
    shadowAdd(i, used)
    M[i], V[i] = 0, 0
  elseif M[i] == 0 then
    M[i] = e
    V[i] = math.min(e, e - shadowUsed(i))
  else
    M[i] = e
    V[i] = math.min(V[i], e)
  end
end

local function debit(i, n)
  if n <= 0 then return end
  if M[i] == 0 then shadowAdd(i, n) else V[i] = V[i] - n end
end
local function credit(i, x)
  if x <= 0 then return end
  if M[i] == 0 then shadowAdd(i, -x) else V[i] = math.min(V[i] + x, M[i]) end
end
local function capTo(i, ceiling)
  if V[i] - ceiling <= eps then return false end
  V[i] = ceiling
  return true
end
local function expect() return math.ceil(num('oa')) end

for i = 1, 4 do
  local c = tonumber(ARGV[3 + i])
  if c ~= C[i] then setLimits(i, c, G[i]) end
end

local result = 0
local taken = {0, 0, 0, 0}
local output = {0, 0}
if op == 'r' then
  local inp = math.max(tonumber(ARGV[8]), 0)
  local out = tonumber(ARGV[9])
  if out < 0 then out = expect() end
  local take = {1, inp, out, inp + out}
  local ok = now >= num('b')
  for i = 1, 4 do
    if ok and M[i] > 0 and V[i] + eps < math.min(math.max(take[i], 1), M[i]) then ok = false end
  end
  if ok then
    result = 1
    for i = 1, 4 do
      if take[i] > 0 then
        if M[i] > 0 then taken[i] = take[i] end
        debit(i, take[i])
      end
    end
    for j = 1, 2 do
      if taken[j + 2] > 0 and out > 0 then
        output[j] = out
        if ARGV[10] ~= '0' then H[j + 2] = H[j + 2] + out end
      end
    end
  end
elseif op == 's' then
  for j = 1, 2 do H[j + 2] = math.max(H[j + 2] - tonumber(ARGV[10 + j]), 0) end
  local out = tonumber(ARGV[13])
  if out > 0 then
    local n = num('on')
    if n == 0 then s.oa = out else s.oa = num('oa') + 0.1 * (out - num('oa')) end
    s.on = n + 1
  end
  for i = 2, 4 do
    local d = tonumber(ARGV[6 + i])
    if d > 0 then debit(i, d) elseif d < 0 then credit(i, -d) end
  end
elseif op == 'o' then
  for i = 1, 4 do
    local a = 8 + 4 * (i - 1)
    local lim, rem, ahead = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    if lim > 0 then setLimits(i, C[i], lim) end
    if ARGV[a + 3] ~= '' then s['r' .. i] = ARGV[a + 3] end
    if M[i] > 0 then
      local lowered = false
      if rem >= 0 then lowered = capTo(i, rem - H[i]) end
      if ahead and ahead > 0 then
        lowered = capTo(i, M[i] - ahead * M[i] / W - H[i]) or lowered
      end
      if lowered then result = result + 2 ^ (i - 1) end
    end
  end
elseif op == 'c' then
  s.b = math.max(num('b'), now + tonumber(ARGV[8]))
elseif op == 'u' then
  for i = 1, 4 do debit(i, tonumber(ARGV[7 + i])) end
end

s.t = now
for i = 1, 4 do
  s['c' .. i], s['g' .. i], s['m' .. i], s['v' .. i], s['h' .. i] = C[i], G[i], M[i], V[i], H[i]
end
redis.call('SET', key, cmsgpack.pack(s), 'PX', ttl)

local res = {result, taken[1], taken[2], taken[3], taken[4], output[1], output[2], expect(),
  math.max(num('b') - now, 0)}
for i = 1, 4 do
  res[#res + 1] = M[i]; res[#res + 1] = C[i]; res[#res + 1] = G[i]; res[#res + 1] = string.format('%.17g', V[i])
end
res[#res + 1] = H[3]; res[#res + 1] = H[4]
for i = 1, 4 do res[#res + 1] = s['r' .. i] or '' end
return res
`

// script is sharedScript for go-redis: EVALSHA, and EVAL when the server
// does not know the script yet (a restart flushes the script cache).
var script = redis.NewScript(sharedScript)
