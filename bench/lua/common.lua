-- Shared by every wrk script in bench/lua (loaded with require("common"); bench/harness.py puts
-- this directory on LUA_PATH). Per thread (each wrk thread has its own Lua state): statuses
-- (count_status), counters (count), gauges (the last value of gauge(name, value)), lines (free
-- text for done(), e.g. sample(name, value)), thread_id (1..threads, set by setup() before the
-- thread's init()) and now_us() (CLOCK_MONOTONIC via LuaJIT's FFI). done() prints all of it and
-- wrk's own figures as "BENCH ..." lines, which harness.parse_wrk reads. Only flat tables:
-- Debian's wrk cannot copy nested tables between Lua states.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

statuses, counters, gauges, lines = {}, {}, {}, {}
thread_id = thread_id or 0

function count_status(status) statuses[status] = (statuses[status] or 0) + 1 end
function count(name, n) counters[name] = (counters[name] or 0) + (n or 1) end
function gauge(name, value) gauges[name] = value end
function sample(name, value) lines[#lines + 1] = string.format("sample %s %.3f", name, value) end

function read_lines(path)
  local out = {}
  for line in assert(io.open(path, "r")):lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

-- The file of this thread's share of the items written by harness.write_thread_files.
function thread_file(prefix) return prefix .. thread_id .. ".txt" end

-- URLs and headers, for the scripts that follow redirects (flow.lua, signin.lua).
function url_escape(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function url_unescape(s)
  s = string.gsub(s, "+", " ")
  return (string.gsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function query_param(url, name)
  local v = string.match(url, "[?&]" .. name .. "=([^&#]*)")
  return v and url_unescape(v) or nil
end

function header(headers, name)
  for k, v in pairs(headers) do
    if string.lower(k) == name then return v end
  end
end

function split(text, sep)
  local out = {}
  for item in string.gmatch(text, "[^" .. sep .. "]+") do out[#out + 1] = item end
  return out
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function done(summary, latency, requests)
  local function out(...) io.write("BENCH ", string.format(...), "\n") end
  local all, totals = {}, {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses") or {}) do all[status] = (all[status] or 0) + n end
    for name, n in pairs(t:get("counters") or {}) do totals[name] = (totals[name] or 0) + n end
    for _, line in ipairs(t:get("lines") or {}) do out("%s", line) end
    for name, value in pairs(t:get("gauges") or {}) do out("gauge %s %.3f", name, value) end
  end
  for status, n in pairs(all) do out("status %d %d", status, n) end
  for name, n in pairs(totals) do out("counter %s %d", name, n) end
  local e = summary.errors
  out("summary requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout)
  out("latency max=%d", latency.max)
  for _, p in ipairs({ 50, 99, 99.9 }) do out("percentile %s %d", p, latency:percentile(p)) end
end
