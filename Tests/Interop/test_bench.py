"""`registrar-bench` scenarios, run with tiny sizes against the session server: each one must
complete, exit 0 and write JSON with its figures. No timing is asserted (figures live in
docs/performance.md, from release builds)."""
from __future__ import annotations

import json
import subprocess

import pytest

from interop_support import resolve_binary

SCENARIOS = {
    "health": (["--requests", "300", "--connections", "2", "--in-flight", "2"], ["health_per_second", "latency_p99_ms"]),
    "register": (["--requests", "300", "--connections", "2", "--in-flight", "2"], ["registrations_per_second", "latency_p99_ms"]),
    "query": (["--requests", "300", "--connections", "2", "--in-flight", "2", "--instances", "5"], ["queries_per_second", "latency_p99_ms"]),
    "push": (["--iterations", "5", "--fan-out", "10", "--fan-out-changes", "2"], ["push_latency_p99_ms", "fanout_all_received_max_ms"]),
    "connections": (["--connections", "20", "--instances-per-connection", "2", "--idle-seconds", "1"], ["bytes_per_instance", "server_idle_cpu_percent"]),
}


def bench_binary():
    """`registrar-bench`, built beside `registrar`."""
    return resolve_binary().parent / "registrar-bench"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_bench_scenario_completes_and_writes_json(server, tmp_path, scenario):
    args, fields = SCENARIOS[scenario]
    out = tmp_path / f"{scenario}.json"
    cmd = [str(bench_binary()), scenario, "--server", f"127.0.0.1:{server.port}",
           "--server-pid", str(server.proc.pid), "--json", str(out), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    document = json.loads(out.read_text())
    assert document["scenario"].startswith(scenario)
    figures = document["figures"]
    assert figures["errors"] == 0
    for field in fields:
        assert field in figures, f"{field} missing from {sorted(figures)}"
        assert figures[field] >= 0


def test_bench_against_no_server_fails_clearly(tmp_path):
    cmd = [str(bench_binary()), "health", "--server", "127.0.0.1:1", "--requests", "10"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot connect to 127.0.0.1:1001" in done.stderr and "--server 127.0.0.1:1" in done.stderr


def test_bench_storm_restarts_the_server_and_counts_every_client_back(server_factory, tmp_path):
    """The storm kills a test-owned server (SIGKILL), starts it again with the restart command,
    and waits until every SDK client has re-registered; the bench stops the new server."""
    import shlex

    srv = server_factory("storm")
    out = tmp_path / "storm.json"
    cmd = [str(bench_binary()), "storm", "--server", f"127.0.0.1:{srv.port}",
           "--server-pid", str(srv.proc.pid), "--json", str(out),
           "--clients", "20", "--instances-per-client", "2", "--services", "3", "--timeout", "60",
           "--restart-command", "exec " + shlex.join(srv.command())]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    figures = json.loads(out.read_text())["figures"]
    assert figures["errors"] == 0
    assert figures["instances_restored"] == figures["instances_expected"] == 40
    assert figures["seconds_kill_to_all_restored"] > 0
