-- Shared by the v1 wrk scripts: per-thread ids, and done(), which prints one machine-readable
-- BENCH line (bad_body: 2xx answers that the script's response() judged wrong, via `bad`).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
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
