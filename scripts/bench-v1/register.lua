-- wrk script: v1 register, POST /nacos/v1/ns/instance, a distinct ip:port on every request,
-- spread over 100 services. Parameters go in the query string with an empty body, exactly as
-- nacos-sdk-python 1.0.0 sends them (Python-style True/1.0, clusterName given, UA of the SDK).
--   wrk -t1 -c32 -d10s -s register.lua http://127.0.0.1:8848 -- <run-tag> [services]
-- A non-2xx answer is counted by wrk itself (errors.status); a 2xx answer whose body is not
-- exactly "ok" is counted here as bad_body. done() prints one machine-readable BENCH line.
-- Instances are never beaten, so the server expires them after 30 s (use a fresh server).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  tag = args[1] or tostring(os.time())
  services = tonumber(args[2] or "100")
  counter = 0
  bad = 0
  headers = { ["User-Agent"] = "Nacos-Python-Client:v1.0.0" }
end

function request()
  local c = counter
  counter = counter + 1
  -- ip 10.<thread>.<b>.<d>, port 20000+(c/65536): unique per thread for 2^16 * 40000 requests
  local path = string.format(
    "/nacos/v1/ns/instance?ip=10.%d.%d.%d&port=%d&serviceName=bench-reg-%s-%d&weight=1.0" ..
    "&enable=True&healthy=True&clusterName=DEFAULT&ephemeral=True&groupName=DEFAULT_GROUP",
    id % 100, math.floor(c / 256) % 256, c % 256, 20000 + math.floor(c / 65536) % 40000,
    tag, c % services)
  return wrk.format("POST", path, headers, "")
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 and body ~= "ok" then
    bad = bad + 1
  end
end
