-- wrk script: v1 query, GET /nacos/v1/ns/instance/list for one small service that run.sh
-- pre-registered (bench-list-<tag>, 5 instances ip 10.202.0.<1..5>:8080), with the query
-- nacos-sdk-python 1.0.0 sends (serviceName, healthyOnly=False, groupName).
--   wrk -t1 -c32 -d10s -s list.lua http://127.0.0.1:8848 -- <tag> [expected-hosts]
-- A non-2xx answer is counted by wrk (errors.status); a 2xx answer that does not carry the
-- expected number of hosts is counted here as bad_body.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

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
