#!/usr/bin/env bash
# The standard benchmark set on one machine (2 cores: a few minutes). Loopback only.
#   scripts/bench.sh [OUTDIR]     (default .build/bench-results)
# Builds release, starts a fresh server, runs every `registrar-bench` scenario (JSON per
# scenario in OUTDIR), stops the server, then the v1 HTTP figures with wrk if it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.build/bench-results}"
mkdir -p "$out"
swift build -c release --product registrar
swift build -c release --product registrar-bench
bin=.build/release/registrar
bench=.build/release/registrar-bench
port="${BENCH_PORT:-28900}"
data="$(mktemp -d)"
"$bin" serve --host 127.0.0.1 --port "$port" --data-dir "$data" --log-level warning >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do
  curl -fsS -m 1 "http://127.0.0.1:$port/nacos/v1/console/health/readiness" >/dev/null 2>&1 && break
  sleep 0.2
done
target=(--server "127.0.0.1:$port" --server-pid "$pid")
"$bench" health "${target[@]}" --requests 200000 --json "$out/health.json"
"$bench" register "${target[@]}" --requests 200000 --json "$out/register.json"
"$bench" query "${target[@]}" --requests 200000 --json "$out/query.json"
"$bench" push "${target[@]}" --iterations 500 --fan-out 1000 --fan-out-changes 10 --json "$out/push.json"
"$bench" connections "${target[@]}" --connections 10000 --instances-per-connection 10 --json "$out/connections.json"
# The storm kills the server and starts it again itself; the restarted server is its child.
"$bench" storm "${target[@]}" --clients 10000 --instances-per-client 1 --services 100 --json "$out/storm.json" \
  --restart-command "exec $bin serve --host 127.0.0.1 --port $port --data-dir $data --log-level warning >>$out/server.log 2>&1"
if command -v wrk >/dev/null; then
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  "$bin" serve --host 127.0.0.1 --port "$port" --data-dir "$data" --log-level warning >>"$out/server.log" 2>&1 &
  pid=$!
  sleep 1
  BENCH_SCENARIOS="list beat beat-full register" scripts/bench-v1/run.sh "127.0.0.1:$port" "$pid" | tee "$out/v1.txt"
else
  echo "wrk not installed: skipping the v1 HTTP figures (apt-get install wrk)"
fi
echo "results in $out"
