-- wrk script for the end-to-end benchmark: replay pre-signed POST /api/v1/pay requests (one unique
-- Idempotency-Key each, as intake.lua), optionally paced at FLOSSPAY_BENCH_RATE requests/s in all
-- (each thread schedules its share of send slots on a monotonic clock; its connections take the
-- slots, so the offered rate holds while latency stays below connections / rate; a slot more than
-- 50 ms late is dropped, and the benchmark reports the rate achieved), and print p50/p95/p99 in one
-- parseable line at the end.
-- The request file (env FLOSSPAY_BENCH_REQUESTS): client_id \t timestamp \t key \t hmac \t body
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } fp_timespec;
int clock_gettime(int clk_id, fp_timespec *tp);
]]
local ts = ffi.new("fp_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local path = os.getenv("FLOSSPAY_BENCH_REQUESTS")
  local nthreads = tonumber(os.getenv("FLOSSPAY_BENCH_THREADS"))
  local rate = tonumber(os.getenv("FLOSSPAY_BENCH_RATE") or "0")
  interval = 0
  if rate > 0 then
    interval = nthreads / rate
  end
  next_at = nil
  requests = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      local cid, ts, key, mac, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
      local headers = {
        ["Content-Type"] = "application/json",
        ["X-Client-Id"] = cid,
        ["X-Timestamp"] = ts,
        ["Idempotency-Key"] = key,
        ["X-HMAC"] = mac,
      }
      table.insert(requests, wrk.format("POST", "/api/v1/pay", headers, body))
    end
    i = i + 1
  end
  n = 0
end

function delay()
  if interval == 0 then
    return 0
  end
  local t = now()
  if next_at == nil or next_at < t - 0.05 then
    next_at = t
  end
  next_at = next_at + interval
  local wait = (next_at - t) * 1000
  if wait < 0 then
    return 0
  end
  return wait
end

function request()
  n = n + 1
  if n > #requests then
    n = 1 -- exhausted: replays from here on (the benchmark counts new payments in the database)
  end
  return requests[n]
end

function done(summary, latency, requests)
  io.write(string.format("E2E-LATENCY-US p50=%d p95=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
