-- One benchmark scenario for wrk, described by environment variables:
--   BENCH_METHOD   GET, POST, PUT, DELETE
--   BENCH_PATH     path and query; "{id}" is replaced by an id
--   BENCH_IDS      "random": uniform in [BENCH_ID_LOW, BENCH_ID_HIGH];
--                  "each-once": every id of that range at most once (for DELETE)
--   BENCH_BODY     JSON body, if any
--   BENCH_AUTHORIZATION  an Authorization header for every request, if any
--   BENCH_THREADS  wrk's -t, so "each-once" threads take disjoint ids
-- done() prints one JSON line that bench/run.py reads.

local method = os.getenv("BENCH_METHOD") or "GET"
local template = os.getenv("BENCH_PATH") or "/"
local ids = os.getenv("BENCH_IDS") or "random"
local low = tonumber(os.getenv("BENCH_ID_LOW") or "1")
local high = tonumber(os.getenv("BENCH_ID_HIGH") or "1")
local body = os.getenv("BENCH_BODY")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local headers = {}
if body then headers["Content-Type"] = "application/json" end
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization then headers["Authorization"] = authorization end

local created = 0
function setup(thread)
  thread:set("tid", created)
  created = created + 1
end

local next_id
function init(args)
  math.randomseed(os.time() + tid * 7919)
  next_id = low + tid
end

function request()
  local id
  if ids == "each-once" then
    id = next_id
    next_id = next_id + threads
  else
    id = math.random(low, high)
  end
  local path = string.gsub(template, "{id}", tostring(id))
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
