"""Fixtures for the Registrar v1 HTTP interop suite (nacos-sdk-python 1.0.0, `nacos.NacosClient`).

The server under test is `registrar serve --host 127.0.0.1 --port P --data-dir <tmp>` from
$REGISTRAR_BINARY or <repo>/.build/debug/registrar, started and stopped by the gRPC suite's
RegistrarServer (Tests/Interop/interop_support.py, imported, not copied). The v1 front is
plain HTTP on P itself. One server is shared by the whole session; tests isolate themselves
with unique service/group names. On any failure the report gets the server log tail and the
SDK log tail.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Interop"))

from interop_support import RegistrarServer, SessionWatch, home_in, resolve_binary, tail_file  # noqa: E402

# --- process-wide hygiene ----------------------------------------------------------------
# The SDK (and our raw-HTTP helper) use urllib's default opener, which honours *_proxy
# variables: drop them so every request really goes to 127.0.0.1.
for _k in list(os.environ):
    if _k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        del os.environ[_k]

# Every SDK call has a 3 s socket timeout and every wait in the suite is bounded; this
# watchdog only guards against the unforeseen (dumps all stacks and _exits).
HARD_TEST_LIMIT = float(os.environ.get("INTEROP_HARD_TEST_LIMIT", "120"))
WATCH = SessionWatch(HARD_TEST_LIMIT)
HTTP_READY_TIMEOUT = 30.0
LIVENESS_PATH = "/nacos/v1/console/health/liveness"

_SESSION_DIR: Path | None = None
_SDK_LOG: Path | None = None


def http_liveness(port: int, timeout: float = 1.0) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{LIVENESS_PATH}", method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def wait_http_ready(srv: RegistrarServer, timeout: float = HTTP_READY_TIMEOUT) -> None:
    """RegistrarServer.start() waits for the gRPC port P+1000; the v1 front is on P."""
    deadline = time.monotonic() + timeout
    last = "<never answered>"
    while time.monotonic() < deadline:
        if not srv.is_running():
            raise RuntimeError(f"server exited before its HTTP port answered: {srv.describe()}")
        try:
            status, body = http_liveness(srv.port)
            if status == 200 and body.strip() == "OK":
                return
            last = f"HTTP {status} {body!r}"
        except Exception as e:  # noqa: BLE001 - connection refused etc. means "not yet"
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    raise RuntimeError(f"GET http://127.0.0.1:{srv.port}{LIVENESS_PATH} did not answer 200 'OK' "
                       f"within {timeout:.0f}s; last: {last}")


@pytest.fixture(scope="session")
def v1_dir(tmp_path_factory) -> Path:
    global _SESSION_DIR
    d = tmp_path_factory.mktemp("registrar-interop-v1")
    _SESSION_DIR = d
    return d


@pytest.fixture(scope="session")
def sdk_log_dir(v1_dir) -> Path:
    """HOME points into the session dir (nothing of the SDK lands in ~), and the SDK's
    `nacos.client` logger writes to <session>/sdk/logs/nacos-client-python.log.

    NacosClient.initLog only adds its own file handler when `logger.hasHandlers()` is
    false, which also counts the root logger's handlers (pytest installs some), so the
    handler is attached here, once, instead."""
    with home_in(v1_dir / "home"):
        yield from _sdk_log_handler(v1_dir)


def _sdk_log_handler(v1_dir: Path):
    global _SDK_LOG
    log_dir = v1_dir / "sdk" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _SDK_LOG = log_dir / "nacos-client-python.log"
    handler = logging.FileHandler(_SDK_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(message)s"))
    sdk_logger = logging.getLogger("nacos.client")
    sdk_logger.addHandler(handler)
    sdk_logger.setLevel(logging.INFO)   # INFO lines carry every server response
    sdk_logger.propagate = False
    yield log_dir
    sdk_logger.removeHandler(handler)
    handler.close()


@pytest.fixture(scope="session")
def server(v1_dir, sdk_log_dir) -> RegistrarServer:
    binary = resolve_binary()
    if not binary.exists():
        pytest.fail(f"registrar binary not found at {binary}: build it first "
                    f"(swift build) or set REGISTRAR_BINARY", pytrace=False)
    srv = RegistrarServer(v1_dir, binary, name="registrar")
    WATCH.server = srv
    error = None
    try:
        srv.start()
        wait_http_ready(srv)
    except Exception as e:  # noqa: BLE001
        error = e
    if error is not None:
        srv.stop()
        pytest.fail(f"could not start {binary} with its v1 HTTP front: {error}\n"
                    f"--- server log tail ---\n{srv.log_tail(60)}", pytrace=False)
    yield srv
    rc, killed = srv.stop()
    print(f"\n[interop-v1] session server stopped: rc={rc} sigkill_needed={killed}; "
          f"log: {srv.log_path}")


def _stop_client(client) -> None:
    """Stop a NacosClient's background threads: auto-beat tasks (daemon threads that
    check their flag after each sleep) and subscribe timers. The SDK's NacosTimer
    re-arms a new threading.Timer (non-daemon!) at the end of every poll, so a cancel
    racing a running poll can leave one armed: cancel repeatedly, bounded."""
    for task in list(getattr(client, "heartbeats", {}).values()):
        task.stop()
    manager = getattr(client, "subscribe_timer_manager", None)
    if manager is None:
        return
    timers = list(manager.all_timers().values())
    client.stop_subscribe()
    for _ in range(50):
        for t in timers:
            t.cancel()
        if not any(t.alive() for t in timers):
            break
        time.sleep(0.1)


@pytest.fixture
def nacos_client(server, sdk_log_dir):
    """Factory for real `nacos.NacosClient` objects (nacos-sdk-python 1.0.0) pointed at
    the session server; all of them are stopped at the end of the test."""
    from nacos import NacosClient

    made = []

    def make(namespace: str | None = None):
        client = NacosClient(server_addresses=server.addr, namespace=namespace,
                             logDir=str(sdk_log_dir))
        made.append(client)
        return client

    yield make
    for c in made:
        _stop_client(c)


def pytest_configure(config):
    WATCH.configure()


@pytest.fixture(autouse=True)
def _hang_guard_and_liveness(request):
    yield from WATCH.around(request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    if WATCH.server is not None:
        rep.sections.append((f"{WATCH.server.describe()} log tail ({WATCH.server.log_path})",
                             WATCH.server.log_tail(120)))
    if _SDK_LOG is not None and _SDK_LOG.exists():
        rep.sections.append((f"nacos-sdk-python 1.0.0 log tail ({_SDK_LOG})",
                             tail_file(_SDK_LOG, 60)))
