#!/usr/bin/env bash
# Benchmark Registrar's Nacos v1 HTTP front with wrk (local use only, not CI).
#
#   scripts/bench-v1/run.sh [ADDR [PID]]
#   BENCH_ADDR=127.0.0.1:8848 BENCH_PID=1234 scripts/bench-v1/run.sh
#
# ADDR is the server's main (HTTP) address host:P; PID is the server process, whose
# utime+stime (/proc/PID/stat) is read before and after every scenario. Start the server
# yourself, e.g. `.build/release/registrar serve --host 127.0.0.1 --port 8848 --data-dir /tmp/b`
# (a fresh server per run gives clean numbers: the register scenario leaves ~100k+ instances
# behind that expire 30 s later).
#
# Scenarios (BENCH_SCENARIOS, default "list beat register", in that order):
#   list      GET /nacos/v1/ns/instance/list of a 5-instance service           (list.lua)
#   beat      PUT /nacos/v1/ns/instance/beat light beats over 10k instances     (beat.lua)
#   beat-full the same with the beat JSON, as nacos-sdk-python 1.x sends     (beat.lua full)
#   register  POST /nacos/v1/ns/instance, a new ip:port per request, 100 svcs   (register.lua)
# list and beat instances are pre-registered here (python3, one keep-alive connection) with
# long preserved heart-beat/delete timeouts so nothing expires while a scenario runs.
#
# Knobs: BENCH_THREADS (1), BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_BEAT_COUNT
# (10000), BENCH_BEAT_SERVICES (100), BENCH_TAG (a per-run tag in every service name).
# On a 2-core machine wrk and the server share the CPUs: read req/s as relative figures.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

addr="${1:-${BENCH_ADDR:-127.0.0.1:8848}}"
pid="${2:-${BENCH_PID:-}}"
threads="${BENCH_THREADS:-1}"
conns="${BENCH_CONNECTIONS:-32}"
duration="${BENCH_DURATION:-10s}"
beat_count="${BENCH_BEAT_COUNT:-10000}"
beat_services="${BENCH_BEAT_SERVICES:-100}"
scenarios="${BENCH_SCENARIOS:-list beat register}"
tag="${BENCH_TAG:-$(date +%s)}"

die() { echo "bench-v1: $*" >&2; exit 1; }

host="${addr%:*}"
port="${addr##*:}"
case "$host" in
  127.0.0.1|localhost) ;;
  *) die "loopback only: ADDR must be 127.0.0.1:P or localhost:P (got $addr)" ;;
esac
[[ "$port" =~ ^[0-9]+$ ]] || die "bad port in ADDR '$addr'"
[ -n "$pid" ] || die "server pid required (second argument or BENCH_PID)"
[ -r "/proc/$pid/stat" ] || die "no process $pid"
[ "$beat_count" -ge 1 ] && [ "$beat_count" -le 200000 ] || die "BENCH_BEAT_COUNT must be 1..200000"
[ "$beat_services" -ge 1 ] || die "BENCH_BEAT_SERVICES must be >= 1"
command -v wrk >/dev/null || die "wrk not found (Debian/Ubuntu: sudo apt-get install wrk)"
command -v python3 >/dev/null || die "python3 not found"
base="http://$host:$port"

curl -fsS -m 3 "$base/nacos/v1/console/health/liveness" >/dev/null \
  || die "$base/nacos/v1/console/health/liveness does not answer"

clk_tck="$(getconf CLK_TCK)"
cpu_ticks() {  # utime+stime of $pid; fields after the ")" that closes comm start at field 3
  local rest
  rest="$(sed 's/^.*) //' "/proc/$pid/stat")"
  awk '{ print $12 + $13 }' <<<"$rest"
}

# --- pre-registration (bounded: a fixed list, 5 s per request, stop at the first error) ----
preregister() {
  python3 - "$host" "$port" "$tag" "$beat_count" "$beat_services" "$scenarios" <<'PY'
import http.client, json, sys, time, urllib.parse

host, port, tag, count, services, scenarios = sys.argv[1:7]
port, count, services, scenarios = int(port), int(count), int(services), scenarios.split()
long_lived = json.dumps({"preserved.heart.beat.timeout": "3600000",
                         "preserved.ip.delete.timeout": "3600000"})
conn = http.client.HTTPConnection(host, port, timeout=5)

def call(method, params):
    path = "/nacos/v1/ns/instance" + ("/list" if method == "GET" else "")
    conn.request(method, path + "?" + urllib.parse.urlencode(params),
                 body=None if method == "GET" else b"",
                 headers={"User-Agent": "Nacos-Python-Client:v1.0.0"})
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    if resp.status != 200:
        sys.exit(f"pre-registration: {method} {params} -> HTTP {resp.status} {body!r}")
    return body

def register(svc, ip):
    body = call("POST", {"ip": ip, "port": 8080, "serviceName": svc, "weight": 1.0,
                         "enable": True, "healthy": True, "clusterName": "DEFAULT",
                         "ephemeral": True, "groupName": "DEFAULT_GROUP",
                         "metadata": long_lived})
    if body != "ok":
        sys.exit(f"pre-registration: register {svc} {ip} answered {body!r}")

def hosts(svc):
    return len(json.loads(call("GET", {"serviceName": svc}))["hosts"])

t0 = time.monotonic()
if "list" in scenarios:
    for k in range(5):
        register(f"bench-list-{tag}", f"10.202.0.{k + 1}")
    assert hosts(f"bench-list-{tag}") == 5, "list service must have 5 hosts"
if "beat" in scenarios:
    for i in range(count):
        register(f"bench-beat-{tag}-{i % services}", f"10.201.{i // 250}.{i % 250 + 1}")
    want = len(range(0, count, services))
    got = hosts(f"bench-beat-{tag}-0")
    assert got == want, f"bench-beat-{tag}-0 has {got} hosts, expected {want}"
print(f"pre-registration done in {time.monotonic() - t0:.1f}s", flush=True)
PY
}

# --- one scenario --------------------------------------------------------------------------
results=()
run_scenario() {  # name lua-file wrk-script-args...
  local name="$1" script="$2"; shift 2
  local out before after
  echo "== $name: wrk -t$threads -c$conns -d$duration -s $(basename "$script") $base -- $*"
  before="$(cpu_ticks)"
  out="$(wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s -s "$script" "$base" -- "$@")"
  after="$(cpu_ticks)"
  echo "$out" | sed 's/^/   /'
  [ -r "/proc/$pid/stat" ] || die "server process $pid is gone after $name"
  local line
  line="$(grep '^BENCH ' <<<"$out" | tail -1)" || die "$name: wrk printed no BENCH line"
  results+=("$(awk -v name="$name" -v ticks="$((after - before))" -v hz="$clk_tck" '
    {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      secs = v["duration_us"] / 1e6
      rps = (secs > 0) ? v["requests"] / secs : 0
      cpu_us = ticks / hz * 1e6
      per = (v["requests"] > 0) ? cpu_us / v["requests"] : 0
      sockerr = v["connect"] + v["read"] + v["write"] + v["timeout"]
      printf "%-9s %10.0f %9d %9d %9d %11.1f %8.1f %9.0f %9.0f",
             name, rps, v["requests"], v["non2xx"], v["bad_body"], per, cpu_us / 1e6 / secs * 100,
             v["p50_us"], v["p99_us"]
      if (sockerr > 0) printf "  socket-errors=%d", sockerr
      printf "\n"
    }' <<<"$line")")
}

echo "bench-v1: server $base pid $pid, tag $tag, CLK_TCK $clk_tck, scenarios: $scenarios"
preregister

for s in $scenarios; do
  case "$s" in
    list)     run_scenario list "$here/list.lua" "$tag" 5 ;;
    beat)     run_scenario beat "$here/beat.lua" "$tag" "$beat_count" "$beat_services" ;;
    beat-full) run_scenario beat-full "$here/beat.lua" "$tag" "$beat_count" "$beat_services" full ;;
    register) run_scenario register "$here/register.lua" "$tag" 100 ;;
    *) die "unknown scenario '$s' (list, beat, register)" ;;
  esac
done

echo
printf "%-9s %10s %9s %9s %9s %11s %8s %9s %9s\n" \
  scenario "req/s" requests non-2xx bad-body "cpu-us/req" "cpu-%" "p50-us" "p99-us"
for r in "${results[@]}"; do echo "$r"; done
echo "(cpu-us/req = server utime+stime during the run / requests; cpu-% = of one core)"
