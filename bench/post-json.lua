-- post-json.lua: wrk script that POSTs a JSON body read from a file.
--
--   wrk -t2 -c64 -d10s -s post-json.lua http://127.0.0.1:18002/hooks/bench -- payload-5k.json
--
-- (Copied from the shared bench harness, plus optional pacing.)
-- With one file the request is built once (fastest). With several files the
-- bodies are sent in rotation.
-- Extra request headers: WRK_HEADERS="Name: value; Name2: value2".
--
-- Pacing (wrk has no constant-rate mode; wrk2 is not packaged in Debian):
-- WRK_DELAY_MS=d makes every connection wait a random 0..2d ms (mean d) after each
-- response before sending its next request, so the offered rate is about
-- connections * 1000 / (d + latency). Latency is measured from the actual send, so
-- queueing behind a slow response is not counted (no coordinated-omission
-- correction as in wrk2): the p99 of a paced run is a lower bound.
--
-- At the end one machine-readable line is printed:
--   RESULT rps=... p50_ms=... p90_ms=... p99_ms=... max_ms=... requests=... non2xx=... errors=...

local function readfile(path)
  local f = assert(io.open(path, "rb"), "cannot open body file " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

local bodies = {}
local idx = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local extra = os.getenv("WRK_HEADERS")
if extra and extra ~= "" then
  for item in string.gmatch(extra, "[^;]+") do
    local k, v = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
    if k then wrk.headers[k] = v end
  end
end

local pace = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pace and pace > 0 then
  local top = math.max(0, math.floor(2 * pace + 0.5))
  -- wrk calls delay() before each request; the result is whole milliseconds
  delay = function()
    return math.random(0, top)
  end
end

function init(args)
  local files = {}
  for i = 1, #args do files[#files + 1] = args[i] end
  if #files == 0 then files[1] = os.getenv("BODY") or "payload-5k.json" end
  for i, p in ipairs(files) do bodies[i] = readfile(p) end
  wrk.body = bodies[1]
  if #bodies > 1 then
    -- rotate through the bodies; wrk.format sets Content-Length per body
    request = function()
      idx = idx % #bodies + 1
      return wrk.format(nil, nil, nil, bodies[idx])
    end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d errors=%d bytes_in=%d secs=%.2f\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, e.status, errs, summary.bytes, secs))
end
