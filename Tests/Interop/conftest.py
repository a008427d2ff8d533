"""Fixtures for the Registrar interop suite (real third-party Nacos clients from PyPI).

The server under test is `registrar serve --host 127.0.0.1 --port P --data-dir <tmp>`,
taken from $REGISTRAR_BINARY or <repo>/.build/debug/registrar. One server is shared by
the whole session; tests isolate themselves with unique service/group names.
On any failure the report gets the server log tail and the SDK log tails.
"""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interop_support import (RegistrarServer, SessionWatch, home_in, resolve_binary, scrub_nacos_env,  # noqa: E402
                             tail_file)

# --- process-wide SDK hygiene (must happen before the Rust SDK is first used) ----------
# The Rust SDK gives precedence to NACOS_CLIENT_* env vars over ClientOptions.
for _k in set(os.environ) - set(scrub_nacos_env()):
    del os.environ[_k]
# The Rust SDK runs all of its background work (gRPC I/O, pushes, listener calls) on one
# process-wide Tokio runtime with 1 worker thread by default. The PyO3 binding's *sync*
# methods hold the GIL while blocking, and listeners need the GIL, so a push delivered
# while the main thread is inside a sync call can stall that single worker. More workers
# avoid the stall (INTEROP_RUST_THREAD_CORES=1 reproduces the binding's default).
os.environ["NACOS_CLIENT_COMMON_THREAD_CORES"] = os.environ.get("INTEROP_RUST_THREAD_CORES", "4")

# Hard per-test limit. Every wait in the suite is bounded, but a wedged SDK call can hold
# the GIL forever (the Rust binding's sync methods block while holding it), and then no
# Python-level timeout can fire. faulthandler's watchdog is a C thread: it dumps all
# Python stacks and _exits the process; helper processes die with it (PDEATHSIG).
HARD_TEST_LIMIT = float(os.environ.get("INTEROP_HARD_TEST_LIMIT", "150"))
WATCH = SessionWatch(HARD_TEST_LIMIT)

_SESSION_DIR: Path | None = None
_SERVERS: list[RegistrarServer] = []


@pytest.fixture(scope="session")
def interop_dir(tmp_path_factory) -> Path:
    global _SESSION_DIR
    d = tmp_path_factory.mktemp("registrar-interop")
    _SESSION_DIR = d
    return d


@pytest.fixture(scope="session")
def sdk_dir(interop_dir) -> Path:
    """Logs/caches of in-process SDK clients. The Rust SDK derives its paths from $HOME
    ($HOME/logs/nacos, $HOME/nacos/naming/...), read once on first use, so point HOME here
    for the session."""
    with home_in(interop_dir / "sdk") as d:
        yield d


@pytest.fixture(scope="session")
def server(interop_dir, sdk_dir) -> RegistrarServer:
    binary = resolve_binary()
    if not binary.exists():
        pytest.fail(f"registrar binary not found at {binary}: build it first "
                    f"(swift build) or set REGISTRAR_BINARY", pytrace=False)
    srv = RegistrarServer(interop_dir, binary, name="registrar")
    _SERVERS.append(srv)
    WATCH.server = srv
    try:
        srv.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"could not start {binary}: {e}", pytrace=False)
    yield srv
    rc, killed = srv.stop()
    print(f"\n[interop] session server stopped: rc={rc} sigkill_needed={killed}; "
          f"log: {srv.log_path}")


@pytest.fixture
def server_factory(interop_dir):
    """Start extra, test-owned servers (e.g. to stop one with SIGTERM). Any still running
    at the end of the test are stopped; their logs join the failure diagnostics."""
    started: list[RegistrarServer] = []

    def make(name: str) -> RegistrarServer:
        srv = RegistrarServer(interop_dir, resolve_binary(), name=name)
        _SERVERS.append(srv)
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()
        _SERVERS.remove(srv)


@pytest.fixture
def workdir(interop_dir, request) -> Path:
    """A per-test scratch directory (helper scripts, child process output)."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)[:80]
    d = interop_dir / "tests" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def pytest_configure(config):
    WATCH.configure()


@pytest.fixture(autouse=True)
def _hang_guard_and_liveness(request):
    yield from WATCH.around(request)


# --- failure diagnostics ---------------------------------------------------------------

def _newest(pattern: str) -> Path | None:
    files = sorted(glob.glob(pattern), key=lambda p: os.path.getmtime(p))
    return Path(files[-1]) if files else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for srv in _SERVERS:
        rep.sections.append((f"{srv.describe()} log tail ({srv.log_path})",
                             srv.log_tail(120)))
    if _SESSION_DIR is not None:
        sdk = _SESSION_DIR / "sdk"
        py_log = sdk / "py-logs" / "naming.log"
        if py_log.exists():
            rep.sections.append((f"nacos-sdk-python log tail ({py_log})",
                                 tail_file(py_log, 60)))
        rust_log = _newest(str(sdk / "logs" / "nacos" / "nacos-common.log*"))
        if rust_log is not None:
            rep.sections.append((f"nacos-sdk-rust log tail ({rust_log})",
                                 tail_file(rust_log, 60)))
