-- wrk script: v1 light heartbeats, PUT /nacos/v1/ns/instance/beat with only serviceName, ip
-- and port in the query string (no beat JSON: what a Java 1.x client sends once the server
-- said lightBeatEnabled). It cycles over the instances that run.sh pre-registered:
--   instance i (0 <= i < count): service bench-beat-<tag>-<i % services>,
--                                 ip 10.201.<floor(i/250)>.<i%250+1>, port 8080
--   wrk -t1 -c32 -d10s -s beat.lua http://127.0.0.1:8848 -- <tag> [count] [services]
-- A non-2xx answer is counted by wrk (errors.status); a 2xx answer without code 10200 (e.g.
-- 20404: instance unknown) is counted here as bad_body.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  tag = args[1] or "run"
  count = tonumber(args[2] or "10000")
  services = tonumber(args[3] or "100")
  -- "full": send the beat JSON too, as nacos-sdk-python 1.x does on every beat
  full = (args[4] == "full")
  -- threads start at different offsets so they do not beat the same instance in lockstep
  counter = (id * 7919) % count
  bad = 0
  headers = { ["User-Agent"] = "Nacos-Python-Client:v1.0.0" }
end

function request()
  local i = counter % count
  counter = counter + 1
  local path = string.format(
    "/nacos/v1/ns/instance/beat?serviceName=bench-beat-%s-%d&ip=10.201.%d.%d&port=8080",
    tag, i % services, math.floor(i / 250), i % 250 + 1)
  if full then
    -- {"serviceName":"DEFAULT_GROUP@@<svc>","ip":"<ip>","port":8080,"weight":1.0,"ephemeral":true}, url-encoded
    path = path .. string.format(
      "&beat=%%7B%%22serviceName%%22%%3A%%22DEFAULT_GROUP%%40%%40bench-beat-%s-%d%%22%%2C%%22ip%%22%%3A%%2210.201.%d.%d%%22%%2C%%22port%%22%%3A8080%%2C%%22weight%%22%%3A1.0%%2C%%22ephemeral%%22%%3Atrue%%7D",
      tag, i % services, math.floor(i / 250), i % 250 + 1)
  end
  return wrk.format("PUT", path, headers, "")
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 and not string.find(body, '"code"%s*:%s*10200') then
    bad = bad + 1
  end
end
