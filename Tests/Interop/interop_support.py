"""Shared helpers for the Registrar interop suite.

Everything here is deliberately bounded: every wait has a deadline, every subprocess
has a timeout, and every failure message carries enough context (what was expected,
what was last seen, the server log tail) to diagnose without re-running.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_BINARY = REPO_ROOT / ".build" / "debug" / "registrar"

GRPC_OFFSET = 1000
CLUSTER_OFFSET = 1001

STARTUP_TIMEOUT = 30.0   # server readiness (TCP accept on P+1000)
STOP_TIMEOUT = 10.0      # SIGTERM grace before SIGKILL
WAIT_TIMEOUT = 10.0      # default for "eventually" assertions (brief: each wait <= 15 s)
MAX_WAIT = 15.0

# Environment variables that the Rust SDK reads *in preference to* its ClientOptions
# (nacos-sdk-rust ClientProps.env_first defaults to true). Strip them so a developer's
# shell cannot redirect the tests to another server.
NACOS_ENV_PREFIXES = ("NACOS_CLIENT_",)


def die_with_parent(cmd: Sequence[str]) -> List[str]:
    """Have Linux SIGKILL the child if the test process dies (e.g. the hang guard in
    conftest.py aborts pytest), so no server or helper is ever orphaned.

    This is done by exec-ing through util-linux's `setpriv --pdeathsig KILL` (the child keeps
    its PID), not with a `preexec_fn`: Python code between fork and exec in a process with
    other threads (grpcio's, the Rust SDK's) can crash the child before it execs (seen: SIGSEGV
    right after grpcio's "skipping fork() handlers")."""
    cmd = [str(c) for c in cmd]
    if sys.platform.startswith("linux") and shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
    return cmd

def kill_and_reap(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGKILL a child that is still running and reap it (bounded)."""
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def scrub_nacos_env(env: Optional[dict] = None) -> dict:
    env = dict(os.environ if env is None else env)
    for k in list(env):
        if k.startswith(NACOS_ENV_PREFIXES):
            del env[k]
    return env


def unique(prefix: str) -> str:
    """A service/group name that is unique per call and valid for Nacos naming rules
    (letters, digits, '-', '.'; no '@@', no whitespace)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------
# ports and the server process
# --------------------------------------------------------------------------------------

def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_main_port(lo: int = 20000, hi: int = 40000, attempts: int = 500) -> int:
    """Random P in [lo, hi] such that P, P+1000 and P+1001 are all free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(attempts):
        p = rng.randint(lo, hi)
        if all(_can_bind(x) for x in (p, p + GRPC_OFFSET, p + CLUSTER_OFFSET)):
            return p
    raise RuntimeError(f"could not find free ports P, P+1000, P+1001 in [{lo}, {hi}]")


def tcp_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_binary() -> Path:
    raw = os.environ.get("REGISTRAR_BINARY")
    if not raw:
        return DEFAULT_BINARY
    p = Path(raw)
    return p if p.is_absolute() else (REPO_ROOT / p)


def tail_file(path: Optional[Path], max_lines: int = 80, max_bytes: int = 64 * 1024) -> str:
    if path is None:
        return "<no file>"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    lines = data.splitlines()
    return "\n".join(lines[-max_lines:]) if lines else "<empty>"


def retry_start(attempt: Callable[[int], Any], cleanup: Callable[[], None], attempts: int = 3) -> Any:
    """attempt(i) again (after cleanup()) while it raises a RuntimeError saying the process
    exited: a port can be taken between the probe and the bind. Any other RuntimeError, or
    the last one, is raised after cleanup()."""
    for i in range(attempts):
        try:
            return attempt(i)
        except RuntimeError as e:
            cleanup()
            if "exited" not in str(e) or i == attempts - 1:
                raise


class RegistrarServer:
    """One `registrar serve` process on loopback with its own data dir and log file."""

    def __init__(self, workdir: Path, binary: Optional[Path] = None, name: str = "server",
                 extra_args: Sequence[str] = (), extra_env: Optional[dict] = None,
                 host: str = "127.0.0.1"):
        self.binary = Path(binary) if binary else resolve_binary()
        self.host = host
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        self.workdir = Path(workdir)
        self.name = name
        self.data_dir = self.workdir / f"{name}-data"
        self.log_path = self.workdir / f"{name}.log"
        self.port: int = 0
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None

    # -- addresses ------------------------------------------------------------------
    @property
    def grpc_port(self) -> int:
        return self.port + GRPC_OFFSET

    @property
    def addr(self) -> str:
        """What both SDKs take as server address; they add the 1000 offset themselves."""
        return f"127.0.0.1:{self.port}"

    # -- lifecycle ------------------------------------------------------------------
    def command(self) -> List[str]:
        cmd = [str(self.binary), "serve", "--host", self.host, "--port", str(self.port),
               "--data-dir", str(self.data_dir)]
        if os.environ.get("INTEROP_SERVER_LOG_LEVEL"):
            cmd += ["--log-level", os.environ["INTEROP_SERVER_LOG_LEVEL"]]
        return cmd + self.extra_args

    @staticmethod
    def clean_environment() -> dict:
        # `registrar serve` also reads REGISTRAR_* variables and a REGISTRAR_CONFIG file
        # (e.g. REGISTRAR_GRPC_PORT would move the SDK port away from P+1000): drop them.
        env = scrub_nacos_env()
        for k in list(env):
            if k.startswith("REGISTRAR_"):
                del env[k]
        return env

    def environment(self) -> dict:
        """The clean environment plus the variables this server was made with."""
        return {**self.clean_environment(), **self.extra_env}

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "RegistrarServer":
        if not self.binary.exists():
            raise FileNotFoundError(
                f"registrar binary not found at {self.binary} "
                f"(build it with `swift build` or set REGISTRAR_BINARY)")
        self.data_dir.mkdir(parents=True, exist_ok=True)

        def attempt(_: int) -> "RegistrarServer":
            self.port = pick_main_port()
            self._spawn("")
            self._wait_ready(timeout)
            return self
        try:
            return retry_start(attempt, self.kill)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n--- {self.name} log tail ---\n{self.log_tail()}") from None

    def _spawn(self, label: str) -> None:
        """Start the process on self.port, appending to its log."""
        self._log_file = open(self.log_path, "ab", buffering=0)
        self._log_file.write(f"=== {label}{' '.join(self.command())}\n".encode())
        self.proc = subprocess.Popen(
            die_with_parent(self.command()), stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.workdir), env=self.environment(),
            start_new_session=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(f"{self.name} exited with code {rc} before accepting on "
                                   f"127.0.0.1:{self.grpc_port}")
            if tcp_accepts(self.grpc_port, self.host):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not accept TCP on 127.0.0.1:{self.grpc_port} "
                           f"within {timeout:.0f}s")

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> Tuple[Optional[int], bool]:
        """SIGTERM, wait up to `timeout`, then SIGKILL.
        Returns (exit code, whether SIGKILL was needed)."""
        if self.proc is None:
            return None, False
        killed = False
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.kill()
        rc = self.proc.returncode
        self._close_log()
        return rc, killed

    def restart(self, timeout: float = STARTUP_TIMEOUT) -> "RegistrarServer":
        """A real crash and restart: SIGKILL the process, then start it again on the SAME
        port P and data dir, so clients find it at the address they were given. Ready when
        P+1000 accepts TCP again (`timeout` overall; a start that exits at once, e.g.
        because the port is not free yet, is retried until then)."""
        if self.port == 0:
            raise RuntimeError(f"{self.name} was never started")
        self.kill()
        deadline = time.monotonic() + timeout
        while True:
            self._spawn("restart after SIGKILL: ")
            try:
                self._wait_ready(max(1.0, deadline - time.monotonic()))
                return self
            except RuntimeError as e:
                self.kill()
                if "exited" not in str(e) or time.monotonic() >= deadline:
                    raise RuntimeError(f"{e} (restart on the same port)\n"
                                       f"--- {self.name} log tail ---\n{self.log_tail()}")
                time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    def log_tail(self, max_lines: int = 80) -> str:
        return tail_file(self.log_path, max_lines=max_lines)

    def describe(self) -> str:
        state = "running" if self.is_running() else (
            f"exited rc={self.proc.returncode}" if self.proc else "not started")
        return f"{self.name} {self.addr} (gRPC {self.grpc_port}) pid={getattr(self.proc, 'pid', None)} {state}"


# --------------------------------------------------------------------------------------
# bounded waiting
# --------------------------------------------------------------------------------------

def _clamp(timeout: float) -> float:
    return min(timeout, MAX_WAIT)


def wait_until(fn: Callable[[], Any], pred: Callable[[Any], bool], desc: str,
               timeout: float = WAIT_TIMEOUT, interval: float = 0.1,
               context: Optional[Callable[[], str]] = None, clamp: bool = True) -> Any:
    """Call fn() until pred(result) is true or the deadline passes. Exceptions from fn
    count as 'not yet' and are reported if the deadline passes. `clamp=False` lets a suite
    with its own bounds (the chaos suite's restarts) wait longer than MAX_WAIT."""
    if clamp:
        timeout = _clamp(timeout)
    deadline = time.monotonic() + timeout
    last: Any = "<never evaluated>"
    while True:
        try:
            last = fn()
            if pred(last):
                return last
        except Exception as e:  # noqa: BLE001 - reported below
            last = f"<exception {type(e).__name__}: {e}>"
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    extra = f"\n{context()}" if context else ""
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {desc}\n"
                         f"last observed: {last!r}{extra}")


async def async_wait_until(fn: Callable[[], Awaitable[Any]], pred: Callable[[Any], bool],
                           desc: str, timeout: float = WAIT_TIMEOUT, interval: float = 0.1,
                           context: Optional[Callable[[], str]] = None) -> Any:
    deadline = time.monotonic() + _clamp(timeout)
    last: Any = "<never evaluated>"
    while True:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            last = await asyncio.wait_for(fn(), timeout=remaining)
            if pred(last):
                return last
        except asyncio.TimeoutError:
            last = "<call timed out>"
        except Exception as e:  # noqa: BLE001
            last = f"<exception {type(e).__name__}: {e}>"
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    extra = f"\n{context()}" if context else ""
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {desc}\n"
                         f"last observed: {last!r}{extra}")


def run_async(coro, timeout: float = 90.0):
    """asyncio.run with an overall bound so a wedged SDK can never hang the suite."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout=timeout)
    return asyncio.run(bounded())


def endpoints(instances: Iterable[Any]) -> List[Tuple[str, int]]:
    """Sorted (ip, port) pairs from SDK instance objects of either SDK."""
    return sorted((i.ip, int(i.port)) for i in instances)


# --------------------------------------------------------------------------------------
# callback recorders
# --------------------------------------------------------------------------------------

class Recorder:
    """Collects subscription callbacks as sorted (ip, port) snapshots. Thread-safe, so it
    serves both the asyncio callbacks of nacos-sdk-python and the Rust SDK's listener,
    which is invoked on a Rust worker thread."""

    def __init__(self, name: str = "callback"):
        self.name = name
        self._lock = threading.Lock()
        self.events: List[List[Tuple[str, int]]] = []
        self.raw: List[list] = []

    def record(self, instances) -> None:
        snap = endpoints(instances or [])
        with self._lock:
            self.events.append(snap)
            self.raw.append(list(instances or []))

    async def py_callback(self, instances) -> None:  # nacos-sdk-python awaits the callback
        self.record(instances)

    def rust_listener(self, instances) -> None:  # nacos-sdk-rust-binding-py calls it sync
        self.record(instances)

    def snapshot(self) -> List[List[Tuple[str, int]]]:
        with self._lock:
            return [list(e) for e in self.events]

    def latest(self) -> Optional[List[Tuple[str, int]]]:
        with self._lock:
            return list(self.events[-1]) if self.events else None

    def index_of(self, pred: Callable[[List[Tuple[str, int]]], bool], start: int = 0) -> int:
        with self._lock:
            for i in range(start, len(self.events)):
                if pred(self.events[i]):
                    return i
        return -1

    def __repr__(self) -> str:
        return f"Recorder({self.name}, events={self.snapshot()})"


def wait_for_event(rec: Recorder, pred, desc: str, start: int = 0,
                   timeout: float = WAIT_TIMEOUT, context=None) -> int:
    """Index of the first recorded event at or after `start` satisfying pred."""
    return wait_until(lambda: rec.index_of(pred, start), lambda i: i >= 0,
                      f"{rec.name}: {desc}", timeout=timeout,
                      context=lambda: f"{rec!r}" + (f"\n{context()}" if context else ""))


async def async_wait_for_event(rec: Recorder, pred, desc: str, start: int = 0,
                               timeout: float = WAIT_TIMEOUT, context=None) -> int:
    async def probe():
        return rec.index_of(pred, start)
    return await async_wait_until(probe, lambda i: i >= 0, f"{rec.name}: {desc}",
                                  timeout=timeout,
                                  context=lambda: f"{rec!r}" + (f"\n{context()}" if context else ""))


# --------------------------------------------------------------------------------------
# nacos-sdk-python 3.x (package `v2.nacos`)
# --------------------------------------------------------------------------------------

class PyClients:
    """Async context manager creating nacos-sdk-python naming clients (one gRPC
    connection each) and shutting every one of them down on exit."""

    def __init__(self, server: RegistrarServer, sdk_dir: Path):
        self.server = server
        self.sdk_dir = Path(sdk_dir)
        self.clients: list = []

    async def new(self, *, update_cache_when_empty: bool = False, namespace: str = "",
                  app_name: str = "registrar-interop", username: Optional[str] = None,
                  password: Optional[str] = None, tls=None):
        from v2.nacos import ClientConfigBuilder, NacosNamingService

        builder = ClientConfigBuilder()
        if tls is not None:
            builder = builder.tls_config(tls)
        if username is not None:
            builder = builder.username(username).password(password or "")
        cfg = (builder
               .server_address(self.server.addr)
               .namespace_id(namespace)
               .log_dir(str(self.sdk_dir / "py-logs"))
               .cache_dir(str(self.sdk_dir / "py-cache"))
               .load_cache_at_start(False)   # never let a stale disk cache race the server
               .log_level(logging.INFO)
               .build())
        cfg.app_name = app_name
        # Default False makes the SDK DROP any push/response with an empty host list
        # (so removals of the last instance never reach callbacks or the cache).
        cfg.set_update_cache_when_empty(update_cache_when_empty)
        client = await asyncio.wait_for(NacosNamingService.create_naming_service(cfg), 40)
        self.clients.append(client)
        _dedupe_log_handlers("naming")
        if not await client.server_health():
            raise AssertionError(
                "nacos-sdk-python could not connect (rpc client not RUNNING after "
                "create_naming_service); see py-logs/naming.log\n"
                f"--- server log tail ---\n{self.server.log_tail()}")
        return client

    async def shutdown(self, client) -> None:
        if client in self.clients:
            self.clients.remove(client)
        await asyncio.wait_for(client.shutdown(), 10)

    async def __aenter__(self) -> "PyClients":
        return self

    async def __aexit__(self, *exc) -> None:
        for c in list(self.clients):
            try:
                await asyncio.wait_for(c.shutdown(), 10)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        self.clients.clear()


def _dedupe_log_handlers(logger_name: str) -> None:
    """Every NacosNamingService adds another FileHandler to the shared 'naming' logger;
    keep one per file so the SDK log stays readable."""
    lg = logging.getLogger(logger_name)
    seen = set()
    for h in list(lg.handlers):
        key = getattr(h, "baseFilename", id(h))
        if key in seen:
            lg.removeHandler(h)
            try:
                h.close()
            except Exception:  # noqa: BLE001
                pass
        else:
            seen.add(key)


def py_register_param(service: str, ip: str, port: int, *, group: str = "DEFAULT_GROUP",
                      weight: float = 1.0, metadata: Optional[dict] = None,
                      cluster: str = "", ephemeral: bool = True):
    from v2.nacos import RegisterInstanceParam
    return RegisterInstanceParam(service_name=service, group_name=group, ip=ip, port=port,
                                 weight=weight, metadata=dict(metadata or {}),
                                 cluster_name=cluster, ephemeral=ephemeral,
                                 enabled=True, healthy=True)


def py_list_param(service: str, *, group: str = "DEFAULT_GROUP", subscribe: bool = True):
    from v2.nacos import ListInstanceParam
    # healthy_only is declared Optional[bool] WITHOUT a default in the SDK, so pydantic
    # treats it as required: it must be passed explicitly.
    return ListInstanceParam(service_name=service, group_name=group, subscribe=subscribe,
                             healthy_only=None)


def py_subscribe_param(service: str, callback, *, group: str = "DEFAULT_GROUP"):
    from v2.nacos import SubscribeServiceParam
    return SubscribeServiceParam(service_name=service, group_name=group,
                                 subscribe_callback=callback)


# --------------------------------------------------------------------------------------
# nacos-sdk-rust-binding-py
# --------------------------------------------------------------------------------------

def rust_options(server: RegistrarServer, *, push_empty_protection: bool = False,
                 app_name: str = "registrar-interop"):
    import nacos_sdk_rust_binding_py as rnacos
    # naming_push_empty_protection defaults to True in the binding: the SDK then ignores
    # pushes with no (healthy) hosts, so listeners never see the last instance leave.
    return rnacos.ClientOptions(server.addr, "", app_name=app_name,
                                naming_push_empty_protection=push_empty_protection,
                                naming_load_cache_at_start=False)


def rust_sync_client(server: RegistrarServer, **kw):
    import nacos_sdk_rust_binding_py as rnacos
    return rnacos.NacosNamingClient(rust_options(server, **kw))


def rust_async_client(server: RegistrarServer, **kw):
    import nacos_sdk_rust_binding_py as rnacos
    return rnacos.AsyncNacosNamingClient(rust_options(server, **kw))


def rust_instance(ip: str, port: int, *, weight: Optional[float] = None,
                  metadata: Optional[dict] = None, cluster: Optional[str] = None,
                  ephemeral: Optional[bool] = None):
    import nacos_sdk_rust_binding_py as rnacos
    return rnacos.NacosServiceInstance(ip, port, weight=weight, metadata=metadata,
                                       cluster_name=cluster, ephemeral=ephemeral)


# --------------------------------------------------------------------------------------
# helper subprocesses (an SDK client in its own OS process)
# --------------------------------------------------------------------------------------

PY_REGISTER_SCRIPT = r'''
import asyncio, os, sys, time, logging
from v2.nacos import ClientConfigBuilder, NacosNamingService, RegisterInstanceParam

addr, service, ip, port, workdir, mode = sys.argv[1:7]

async def main():
    cfg = (ClientConfigBuilder().server_address(addr)
           .log_dir(os.path.join(workdir, "py-logs")).cache_dir(os.path.join(workdir, "py-cache"))
           .load_cache_at_start(False).build())
    client = await NacosNamingService.create_naming_service(cfg)
    if not await client.server_health():
        print("connect-failed", flush=True)
        os._exit(2)
    ok = await client.register_instance(RegisterInstanceParam(
        service_name=service, ip=ip, port=int(port), metadata={"owner": "subprocess"}))
    print("registered" if ok else "register-failed", flush=True)
    if mode == "os_exit":
        # wait for the parent's go, then vanish without any shutdown/deregister
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        os._exit(3)
    await asyncio.sleep(60)   # parent SIGKILLs us long before this
    os._exit(4)

asyncio.run(main())
'''

RUST_REGISTER_SCRIPT = r'''
import sys, time, os
import nacos_sdk_rust_binding_py as rnacos

addr, service, ip, port = sys.argv[1:5]
client = rnacos.NacosNamingClient(rnacos.ClientOptions(addr, "", app_name="interop-child",
                                  naming_load_cache_at_start=False))
client.register_instance(service, "DEFAULT_GROUP",
                         rnacos.NacosServiceInstance(ip, int(port), metadata={"owner": "subprocess"}))
print("registered", flush=True)
time.sleep(60)   # parent SIGKILLs us long before this
os._exit(4)
'''


class ChildProcess:
    """A helper OS process that registers one instance and reports 'registered'."""

    def __init__(self, script: str, args: Sequence[str], workdir: Path, name: str):
        self.workdir = Path(workdir)
        self.name = name
        self.script_path = self.workdir / f"{name}.py"
        self.script_path.write_text(script)
        self.out_path = self.workdir / f"{name}.out"
        self._out = open(self.out_path, "wb")
        env = scrub_nacos_env()
        env["HOME"] = str(self.workdir)    # Rust SDK writes ~/logs/nacos and ~/nacos cache
        self.proc = subprocess.Popen(die_with_parent([sys.executable, str(self.script_path), *args]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._out, env=env, cwd=str(self.workdir))
        self.stdout_lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.stdout_lines.append(raw.decode(errors="replace").strip())

    def wait_for_line(self, line: str, timeout: float = 15.0) -> None:
        wait_until(lambda: (list(self.stdout_lines), self.proc.poll()),
                   lambda st: line in st[0] or st[1] is not None,
                   f"child {self.name} to print {line!r}", timeout=timeout,
                   context=self.diagnostics)
        if line not in self.stdout_lines:
            raise AssertionError(f"child {self.name} exited (rc={self.proc.returncode}) "
                                 f"before printing {line!r}\n{self.diagnostics()}")

    def send_line(self, text: str) -> None:
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def sigkill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def cleanup(self) -> None:
        kill_and_reap(self.proc)
        try:
            self._out.close()
        except Exception:  # noqa: BLE001
            pass

    def diagnostics(self) -> str:
        return (f"--- child {self.name} stdout: {self.stdout_lines!r}\n"
                f"--- child {self.name} stderr tail ---\n{tail_file(self.out_path, 30)}")


# ---------------------------------------------------------------------------------------
# per-test watchdog and shared-server liveness (used by both interop suites' conftest.py)
# ---------------------------------------------------------------------------------------

class SessionWatch:
    """A hard per-test limit and the shared server's liveness.

    Every wait in the suites is bounded, but a wedged SDK call can hold the GIL forever, and
    then no Python-level timeout can fire. faulthandler's watchdog is a C thread: it dumps all
    Python stacks to the real stderr and _exits the process. After a test during which the
    shared server died, later tests that use it fail at once with where it died."""

    def __init__(self, limit_seconds: float):
        self.limit = limit_seconds
        self.stderr_fd: Optional[int] = None
        self.server: Optional["RegistrarServer"] = None
        self.died_in: Optional[str] = None

    def configure(self) -> None:
        # Output capture is suspended while plugins are configured, so fd 2 is the real
        # terminal/CI stderr then; keep a dup for the stack dump.
        self.stderr_fd = os.dup(sys.stderr.fileno())

    def around(self, request):
        """Generator body of an autouse fixture."""
        import faulthandler
        import pytest
        if self.stderr_fd is not None:
            faulthandler.dump_traceback_later(self.limit, exit=True, file=self.stderr_fd)
        if "server" in request.fixturenames and self.died_in is not None:
            pytest.fail(f"shared server is dead (it died during {self.died_in})", pytrace=False)
        alive_before = self.server is not None and self.server.is_running()
        yield
        faulthandler.cancel_dump_traceback_later()
        if alive_before and not self.server.is_running():
            self.died_in = request.node.nodeid
            pytest.fail(f"the shared server died during this test: {self.server.describe()}\n"
                        f"--- log tail ---\n{self.server.log_tail(120)}", pytrace=False)


import contextlib


@contextlib.contextmanager
def home_in(directory: Path):
    """Points $HOME at `directory` (created) for the duration: SDKs derive their cache and
    log paths from it, and none of that should land in the real home."""
    directory.mkdir(parents=True, exist_ok=True)
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(directory)
    try:
        yield directory
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home


class LoopbackListener:
    """A TCP listener on 127.0.0.1 (port 0: any free port) whose accept loop runs on a thread;
    each accepted connection goes to `handle(conn)` (on the accept thread unless `threaded`).
    `connections` counts them. Subclasses override `handle`."""

    def __init__(self, port: int = 0, name: str = "listener", threaded: bool = False):
        self.connections = 0
        self._threaded = threaded
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"{name}-{self.port}", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def handle(self, conn: socket.socket) -> None:
        conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.connections += 1
            if self._threaded:
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
            else:
                self.handle(conn)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http(server, method, path, params, token=None):
    """One call with the token as the accessToken parameter; returns (status, body)."""
    params = dict(params)
    if token:
        params["accessToken"] = token
    data = urllib.parse.urlencode(params)
    url = f"http://{server.addr}{path}"
    body = None
    if method in ("GET", "DELETE"):
        url += "?" + data
    else:
        body = data.encode()
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
