#!/usr/bin/env bash
# The cost of metrics on the hot path: server CPU per gRPC registration with metrics on and with
# `--metrics off`, in the same run, interleaved (on, off, off, on, on, off, ...) so that the machine's
# noise falls on both. Loopback only.
#   scripts/bench-metrics.sh [ROUNDS] [REQUESTS]     (default 3 rounds of 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
requests="${2:-100000}"
swift build -c release --product registrar >/dev/null
swift build -c release --product registrar-bench >/dev/null
bin=.build/release/registrar
bench=.build/release/registrar-bench
port="${BENCH_PORT:-28950}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run() { # metrics setting -> server CPU µs per registration
  local data pid
  data="$(mktemp -d)"
  "$bin" serve --host 127.0.0.1 --port "$port" --data-dir "$data" --log-level warning --metrics "$1" \
    >"$out/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    curl -fsS -m 1 "http://127.0.0.1:$port/nacos/v1/console/health/readiness" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$bench" register --server "127.0.0.1:$port" --server-pid "$pid" --requests "$requests" \
    --json "$out/register.json" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['figures']['server_cpu_us_per_registrations'])" \
    "$out/register.json"
}

on=(); off=()
for round in $(seq 1 "$rounds"); do
  # The order alternates, so that whatever favours the first (or second) run of a pair
  # falls on both settings equally.
  if (( round % 2 )); then on+=("$(run on)"); off+=("$(run off)"); else off+=("$(run off)"); on+=("$(run on)"); fi
  echo "round $round: metrics on ${on[-1]} µs, off ${off[-1]} µs per registration"
done
python3 - "${on[*]}" "${off[*]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"median server CPU per registration: metrics on {m_on:.1f} µs, off {m_off:.1f} µs; "
      f"cost {m_on - m_off:+.1f} µs ({m_on / m_off:.3f}x)")
# Each round's on and off ran back to back, so their difference is the one least touched by the
# machine's drift; its mean and a 95% interval (normal approximation) say what the rounds can tell.
diffs = [a - b for a, b in zip(on, off)]
if len(diffs) > 1:
    mean = statistics.mean(diffs)
    half = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5
    print(f"paired difference over {len(diffs)} rounds: {mean:+.1f} µs, 95% interval "
          f"{mean - half:+.1f} to {mean + half:+.1f} µs")
PY
