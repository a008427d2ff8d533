-- wrk script: v1 query, GET /nacos/v1/ns/instance/list for one small service that run.sh
-- pre-registered (bench-list-<tag>, 5 instances ip 10.202.0.<1..5>:8080), with the query
-- nacos-sdk-python 1.0.0 sends (serviceName, healthyOnly=False, groupName).
--   wrk -t1 -c32 -d10s -s list.lua http://127.0.0.1:8848 -- <tag> [expected-hosts]
-- A non-2xx answer is counted by wrk (errors.status); a 2xx answer that does not carry the
-- expected number of hosts is counted here as bad_body.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local tag = args[1] or "run"
  expected = tonumber(args[2] or "5")
  bad = 0
  req = wrk.format("GET",
    "/nacos/v1/ns/instance/list?serviceName=bench-list-" .. tag .. "&healthyOnly=False&groupName=DEFAULT_GROUP",
    { ["User-Agent"] = "Nacos-Python-Client:v1.0.0" })
end

function request()
  return req
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then
    local _, hosts = string.gsub(body, '"instanceId"', "")
    if hosts ~= expected then
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  local badBodies = 0
  for _, t in ipairs(threads) do
    badBodies = badBodies + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d bad_body=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, badBodies, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
