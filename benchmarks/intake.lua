-- wrk script: replay pre-signed POST /api/v1/pay requests, one unique Idempotency-Key each.
-- The request file (path in env FLOSSPAY_BENCH_REQUESTS) holds one request per line:
-- client_id \t timestamp \t key \t hmac \t body
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("FLOSSPAY_BENCH_REQUESTS")
  local nthreads = tonumber(os.getenv("FLOSSPAY_BENCH_THREADS"))
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

function request()
  n = n + 1
  if n > #requests then
    n = 1 -- exhausted: from here on the answers are replays, which the report counts separately
  end
  return requests[n]
end
