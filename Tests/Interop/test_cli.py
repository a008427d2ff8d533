"""The `registrar` operator verbs (services, instances, register, deregister, watch, cluster)
as real OS processes against a real `registrar serve`, next to nacos-sdk-python 3.2.0.

One-shot verbs run through `run_cli` (a 15 s subprocess timeout: a hang fails the test).
Long-running verbs (`register`, `watch`) run as a `CliProcess`: a thread reads stdout line
by line and stamps each line with time.monotonic() when it arrives, so latencies between two
processes' output can be measured. Every process is killed in a finally block.

The CLI takes the server's main port P (`--server 127.0.0.1:P`) and adds 1000 for gRPC.
"""
from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import pytest

from interop_support import (GRPC_OFFSET, MAX_WAIT, WAIT_TIMEOUT, LoopbackListener, PyClients, Recorder, RegistrarServer,
                             die_with_parent, kill_and_reap, async_wait_for_event, async_wait_until, endpoints,
                             pick_main_port, py_list_param, py_register_param, py_subscribe_param,
                             resolve_binary, run_async, tail_file, unique, wait_until)

CLI_TIMEOUT = 15.0          # every one-shot CLI call must finish within this
EXIT_TIMEOUT = 10.0         # a long-running verb must exit this soon after SIGINT/SIGTERM
GROUP = "DEFAULT_GROUP"
INSTANCE_COLUMNS = ["IP", "PORT", "WEIGHT", "HEALTHY", "ENABLED", "CLUSTER", "METADATA"]
INSTANCE_JSON_KEYS = {"ip", "port", "weight", "healthy", "enabled", "ephemeral", "clusterName",
                      "metadata", "instanceId"}

Endpoint = Tuple[str, int]


# --------------------------------------------------------------------------------------
# running the CLI
# --------------------------------------------------------------------------------------

def cli_env(workdir: Path, extra: Optional[Dict[str, str]] = None) -> dict:
    # no REGISTRAR_* (REGISTRAR_SERVER would redirect the CLI) and no NACOS_CLIENT_*
    env = RegistrarServer.clean_environment()
    env["HOME"] = str(workdir)
    env.update(extra or {})
    return env


@dataclass
class CliResult:
    args: List[str]
    rc: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def out_lines(self) -> List[str]:
        return [ln for ln in self.stdout.splitlines() if ln.strip()]

    @property
    def err_lines(self) -> List[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError(f"stdout is not JSON ({e})\n{self}") from None

    def __str__(self) -> str:
        return (f"$ registrar {' '.join(self.args)}\nrc={self.rc} after {self.elapsed:.2f}s\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


def run_cli(args: Sequence[str], workdir: Path, *, timeout: float = CLI_TIMEOUT,
            env: Optional[Dict[str, str]] = None) -> CliResult:
    args = [str(a) for a in args]
    t0 = time.monotonic()
    try:
        done = subprocess.run(die_with_parent([resolve_binary(), *args]), stdin=subprocess.DEVNULL,
                              capture_output=True, encoding="utf-8", errors="replace",
                              timeout=timeout, env=cli_env(workdir, env), cwd=str(workdir))
    except subprocess.TimeoutExpired as e:   # subprocess.run has SIGKILLed it
        raise AssertionError(f"$ registrar {' '.join(args)}\ndid not finish within {timeout:.0f}s "
                             f"(hang; killed)\nstdout so far: {e.stdout!r}\n"
                             f"stderr so far: {e.stderr!r}") from None
    return CliResult(args, done.returncode, done.stdout, done.stderr, time.monotonic() - t0)


def assert_cli_error(res: CliResult, *fragments: str, rc: Optional[int] = None) -> str:
    """A clean failure: exit code > 0 (not a crash by signal), and stderr is exactly one line
    starting with 'Error: ' that contains every fragment. Returns that line."""
    assert res.rc != 0, f"expected a non-zero exit code\n{res}"
    assert res.rc > 0, f"the CLI died from signal {-res.rc} instead of failing cleanly\n{res}"
    if rc is not None:
        assert res.rc == rc, f"expected exit code {rc}\n{res}"
    lines = res.err_lines
    assert len(lines) == 1 and lines[0].startswith("Error: "), \
        f"expected exactly one line on stderr, starting with 'Error: '\n{res}"
    for fragment in fragments:
        assert fragment in lines[0], f"expected {fragment!r} in the error line\n{res}"
    return lines[0]


def instances_json(addr: str, service: str, workdir: Path, *extra: str) -> list:
    """`registrar instances SERVICE --json`; raises (so `wait_until` retries) on failure."""
    res = run_cli(["instances", "--server", addr, service, "--json", *extra], workdir)
    if res.rc != 0:
        raise RuntimeError(f"rc={res.rc}: {res.stderr.strip()}")
    listing = res.json()
    assert isinstance(listing, list), f"`instances --json` must print a JSON array\n{res}"
    return listing


def json_endpoints(listing: list) -> List[Endpoint]:
    return sorted((i["ip"], int(i["port"])) for i in listing)


class CliProcess:
    """A long-running `registrar` verb. stdout lines are collected as (monotonic time, line)."""

    def __init__(self, args: Sequence[str], workdir: Path, name: str,
                 env: Optional[Dict[str, str]] = None):
        self.args = [str(a) for a in args]
        self.name = name
        self.err_path = Path(workdir) / f"{name}.stderr"
        self._err = open(self.err_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(die_with_parent([resolve_binary(), *self.args]), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err,
                                     env=cli_env(workdir, env), cwd=str(workdir))
        self._lock = threading.Lock()
        self._lines: List[Tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            t = time.monotonic()
            with self._lock:
                self._lines.append((t, raw.decode("utf-8", errors="replace").rstrip("\r\n")))

    def lines(self, start: int = 0) -> List[Tuple[float, str]]:
        with self._lock:
            return list(self._lines[start:])

    def texts(self, start: int = 0) -> List[str]:
        return [ln for _, ln in self.lines(start)]

    def count(self) -> int:
        with self._lock:
            return len(self._lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, pred: Callable[[str], bool], desc: str, *, start: int = 0,
                 timeout: float = WAIT_TIMEOUT) -> Tuple[int, float, str]:
        """(index, arrival time, line) of the first stdout line at or after `start` that
        satisfies pred. Fails at once if the process exits without printing it."""
        deadline = time.monotonic() + min(timeout, MAX_WAIT)
        while True:
            exited = self.proc.poll() is not None
            if exited:
                self._reader.join(timeout=2)
            with self._lock:
                snapshot = list(self._lines)
            for i in range(start, len(snapshot)):
                if pred(snapshot[i][1]):
                    return i, snapshot[i][0], snapshot[i][1]
            if exited:
                raise AssertionError(f"{self.name} exited (rc={self.proc.returncode}) without "
                                     f"printing {desc}\n{self.diagnostics()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {min(timeout, MAX_WAIT):.1f}s waiting for "
                                     f"{self.name} to print {desc}\n{self.diagnostics()}")
            time.sleep(0.02)

    def wait_line(self, line: str, *, start: int = 0, timeout: float = WAIT_TIMEOUT):
        return self.wait_for(lambda ln: ln == line, repr(line), start=start, timeout=timeout)

    def interrupt(self, sig: int = signal.SIGINT) -> None:
        assert self.alive(), f"{self.name} is not running any more\n{self.diagnostics()}"
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout:.0f}s of the signal\n"
                                 f"{self.diagnostics()}") from None
        self._reader.join(timeout=2)
        return rc

    def stop(self) -> None:
        kill_and_reap(self.proc)
        self._reader.join(timeout=2)
        try:
            self._err.close()
        except Exception:  # noqa: BLE001
            pass

    def diagnostics(self) -> str:
        state = "running" if self.alive() else f"exited rc={self.proc.returncode}"
        shown = "\n".join(f"  +{t - self.started:7.3f}s  {ln}" for t, ln in self.lines())
        return (f"--- {self.name}: registrar {' '.join(self.args)} ({state})\n"
                f"--- {self.name} stdout ---\n{shown or '  <nothing>'}\n"
                f"--- {self.name} stderr tail ---\n{tail_file(self.err_path, 30)}")


class Processes:
    """Context manager: every CliProcess started through it is SIGKILLed on exit."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.all: List[CliProcess] = []

    def start(self, name: str, *args: str, env: Optional[Dict[str, str]] = None) -> CliProcess:
        p = CliProcess(args, self.workdir, name, env=env)
        self.all.append(p)
        return p

    def diagnostics(self) -> str:
        return "\n".join(p.diagnostics() for p in self.all)

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        for p in self.all:
            p.stop()


def start_register(procs: Processes, name: str, addr: str, service: str, ep: Endpoint,
                   *extra: str, group: str = GROUP, timeout: float = WAIT_TIMEOUT,
                   env: Optional[Dict[str, str]] = None) -> Tuple[CliProcess, float]:
    """`registrar register` until its `registered` line; returns (process, line time)."""
    args = ["register"] + (["--server", addr] if addr else []) + \
        [service, "--ip", ep[0], "--port", str(ep[1]), *extra]
    if group != GROUP:
        args += ["--group", group]
    p = procs.start(name, *args, env=env)
    _, t, _ = p.wait_line(registered_line(ep, service, group), timeout=timeout)
    return p, t


def registered_line(ep: Endpoint, service: str, group: str = GROUP) -> str:
    return f"registered {ep[0]}:{ep[1]} in {group}@@{service}; holding until Ctrl-C"


def deregistered_line(ep: Endpoint, service: str, group: str = GROUP) -> str:
    return f"deregistered {ep[0]}:{ep[1]} from {group}@@{service}"


def watching_line(service: str, n: int, group: str = GROUP) -> str:
    return f"watching {group}@@{service}: {n} instance(s)"


# --------------------------------------------------------------------------------------
# `registrar watch` output
# --------------------------------------------------------------------------------------

WATCH_LINE = re.compile(r"^(?P<ts>\S+) (?P<op>[-+~]) (?P<ip>[^\s:]+):(?P<port>\d+)(?: (?P<rest>.*))?$")
ADDED_REST = re.compile(r"^cluster=(?P<cluster>\S*) weight=(?P<weight>\S+) healthy=(?P<healthy>\S+) "
                        r"enabled=(?P<enabled>\S+) metadata=\{(?P<metadata>.*)\}$")


def parse_watch(line: str) -> Optional[dict]:
    m = WATCH_LINE.match(line)
    if not m:
        return None
    return {"ts": m["ts"], "op": m["op"], "ep": (m["ip"], int(m["port"])), "rest": m["rest"] or ""}


def parse_added(line: str) -> dict:
    """The fields of a `+` (or `-`) line: cluster, weight (float), healthy, enabled, metadata."""
    p = parse_watch(line)
    assert p is not None, f"not a watch event line: {line!r}"
    m = ADDED_REST.match(p["rest"])
    assert m, (f"watch line does not read 'cluster=C weight=W healthy=… enabled=… "
               f"metadata={{k=v,…}}': {line!r}")
    meta = {}
    if m["metadata"]:
        for pair in m["metadata"].split(","):
            k, _, v = pair.partition("=")
            meta[k] = v
    return {"ts": p["ts"], "cluster": m["cluster"], "weight": float(m["weight"]),
            "healthy": m["healthy"], "enabled": m["enabled"], "metadata": meta}


def event(op: str, ep: Endpoint) -> Callable[[str], bool]:
    def pred(line: str) -> bool:
        p = parse_watch(line)
        return p is not None and p["op"] == op and p["ep"] == ep
    return pred


def watch_view(lines: Sequence[str]) -> Set[Endpoint]:
    """The instance set a reader of `watch` output reconstructs from its +/- lines."""
    view: Set[Endpoint] = set()
    for line in lines:
        p = parse_watch(line)
        if p is None:
            continue
        if p["op"] == "+":
            view.add(p["ep"])
        elif p["op"] == "-":
            view.discard(p["ep"])
    return view


# --------------------------------------------------------------------------------------
# helpers for error cases and v1 HTTP
# --------------------------------------------------------------------------------------

def free_main_port() -> int:
    """A port P such that nothing listens on P, P+1000 or P+1001 (an unreachable server)."""
    return pick_main_port()


class JunkServer(LoopbackListener):
    """A loopback TCP listener that is no Nacos server: `close` writes junk and closes,
    `stream` keeps writing junk, `silent` accepts and never says anything."""

    JUNK = b"HTTP/1.0 418 I'm a teapot\r\n\r\n\x00\xff\xfe garbage \x16\x03\x01\x02\x00" * 8

    def __init__(self, port: int, mode: str):
        self.mode = mode
        super().__init__(port, name=f"junk-{mode}", threaded=True)

    def handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(0.2)
            if self.mode == "close":
                conn.sendall(self.JUNK)
            elif self.mode == "stream":
                while not self.stopping:
                    conn.sendall(self.JUNK)
                    time.sleep(0.05)
            else:  # silent: read and discard whatever the client sends
                while not self.stopping:
                    try:
                        if not conn.recv(65536):
                            break
                    except socket.timeout:
                        continue
        except OSError:
            pass
        finally:
            conn.close()


def v1_request(server: RegistrarServer, method: str, path: str, params: Dict[str, str]) -> str:
    url = f"http://{server.addr}{path}?{urllib.parse.urlencode(params)}"
    data = b"" if method in ("POST", "PUT") else None
    req = urllib.request.Request(url, method=method, data=data)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.read().decode()


def _ctx(server: RegistrarServer, procs: Optional[Processes] = None):
    return lambda: f"server: {server.describe()}" + (f"\n{procs.diagnostics()}" if procs else "")


# --------------------------------------------------------------------------------------
# 1. register + watch (two processes), push latency, clean SIGINT
# --------------------------------------------------------------------------------------

def test_cli_register_is_seen_by_watch_within_a_second(server, workdir):
    svc = unique("cli-watch")
    ep = ("10.20.0.1", 7101)
    with Processes(workdir) as procs:
        watch = procs.start("watch", "watch", "--server", server.addr, svc)
        watch.wait_line(watching_line(svc, 0))

        reg, t_registered = start_register(procs, "register", server.addr, svc, ep,
                                           "--weight", "2.5", "--meta", "version=v1",
                                           "--meta", "zone=z1")
        _, t_seen, added = watch.wait_for(event("+", ep), f"'+ {ep[0]}:{ep[1]}'")
        delay = t_seen - t_registered
        print(f"\n[cli] watch printed '+ {ep[0]}:{ep[1]}' {delay * 1000:.0f} ms after register "
              f"printed 'registered'")
        assert delay < 1.0, (f"watch saw the instance {delay:.3f}s after register printed its "
                             f"'registered' line (limit 1.0s)\n{procs.diagnostics()}")

        fields = parse_added(added)
        datetime.fromisoformat(fields["ts"])   # an ISO 8601 timestamp
        assert fields["cluster"] == "DEFAULT"
        assert fields["weight"] == pytest.approx(2.5)
        assert fields["healthy"] == "true" and fields["enabled"] == "true"
        assert fields["metadata"] == {"version": "v1", "zone": "z1"}, added

        listing = instances_json(server.addr, svc, workdir)
        assert json_endpoints(listing) == [ep]
        assert set(listing[0]) >= INSTANCE_JSON_KEYS, listing[0]

        mark = watch.count()
        reg.interrupt(signal.SIGINT)
        rc = reg.wait_exit()
        assert rc == 0, f"register exited {rc} on SIGINT\n{reg.diagnostics()}"
        reg.wait_line(deregistered_line(ep, svc))
        _, _, removed = watch.wait_for(event("-", ep), f"'- {ep[0]}:{ep[1]}'", start=mark)
        datetime.fromisoformat(parse_watch(removed)["ts"])

        # the service has no instance left; it may or may not still exist for readers
        res = run_cli(["instances", "--server", server.addr, svc, "--json"], workdir)
        if res.rc == 0:
            assert res.json() == [], f"instance still listed after deregistration\n{res}"
        else:
            assert_cli_error(res, f"no service {GROUP}@@{svc} in namespace public", rc=1)

        assert watch.alive(), watch.diagnostics()
        watch.interrupt(signal.SIGINT)
        assert watch.wait_exit() == 0, watch.diagnostics()


# --------------------------------------------------------------------------------------
# 2. interop with nacos-sdk-python 3.2.0 on the same server
# --------------------------------------------------------------------------------------

def test_cli_and_python_sdk_see_each_other(server, sdk_dir, workdir):
    svc = unique("cli-py")
    cli_ep, py_ep = ("10.20.1.1", 7201), ("10.20.1.2", 7202)
    cli_meta = {"owner": "cli", "zone": "z1"}
    py_meta = {"lang": "python", "role": "sdk"}
    rec = Recorder("python subscribe callback")

    with Processes(workdir) as procs:
        ctx = _ctx(server, procs)

        async def scenario():
            from v2.nacos import DeregisterInstanceParam
            async with PyClients(server, sdk_dir) as pc:
                sub = await pc.new(update_cache_when_empty=True)
                await sub.subscribe(py_subscribe_param(svc, rec.py_callback))

                # -- registrar register → python SDK
                reg, _ = await asyncio.to_thread(
                    start_register, procs, "register", server.addr, svc, cli_ep, "--weight", "3",
                    "--cluster", "c1", *[a for k, v in cli_meta.items() for a in ("--meta", f"{k}={v}")])
                i = await async_wait_for_event(rec, lambda ev: ev == [cli_ep],
                                               "push with the CLI's instance", context=ctx)
                h = rec.raw[i][0]
                assert h.metadata == cli_meta
                assert h.weight == pytest.approx(3.0)
                assert h.clusterName == "c1"
                assert h.serviceName == f"{GROUP}@@{svc}"
                assert h.healthy is True and h.enabled is True and h.ephemeral is True

                reader = await pc.new()
                hosts = await async_wait_until(
                    lambda: reader.list_instances(py_list_param(svc, subscribe=False)),
                    lambda hs: endpoints(hs) == [cli_ep],
                    "a second python client lists the CLI's instance", context=ctx)
                assert hosts[0].metadata == cli_meta

                # -- python SDK → registrar watch / instances
                watch = procs.start("watch", "watch", "--server", server.addr, svc)
                await asyncio.to_thread(watch.wait_line, watching_line(svc, 1))
                await asyncio.to_thread(watch.wait_for, event("+", cli_ep), "the current instance")

                pub = await pc.new()
                mark = watch.count()
                assert await pub.register_instance(py_register_param(svc, *py_ep, metadata=py_meta))
                _, _, line = await asyncio.to_thread(watch.wait_for, event("+", py_ep),
                                                     "the python SDK's instance", start=mark)
                fields = parse_added(line)
                assert fields["metadata"] == py_meta and fields["cluster"] == "DEFAULT", line
                assert fields["weight"] == pytest.approx(1.0), line

                listing = await asyncio.to_thread(
                    wait_until, lambda: instances_json(server.addr, svc, workdir),
                    lambda lst: json_endpoints(lst) == sorted([cli_ep, py_ep]),
                    "`instances --json` lists both instances", context=ctx)
                by_ep = {(x["ip"], int(x["port"])): x for x in listing}
                for x in listing:
                    assert set(x) >= INSTANCE_JSON_KEYS, x
                py_x, cli_x = by_ep[py_ep], by_ep[cli_ep]
                assert py_x["metadata"] == py_meta
                assert py_x["clusterName"] == "DEFAULT"
                assert py_x["healthy"] is True and py_x["enabled"] is True and py_x["ephemeral"] is True
                assert py_x["weight"] == pytest.approx(1.0)
                assert isinstance(py_x["port"], int)
                assert py_x["instanceId"] == f"{py_ep[0]}#{py_ep[1]}#DEFAULT#{GROUP}@@{svc}"
                assert cli_x["metadata"] == cli_meta
                assert cli_x["clusterName"] == "c1"
                assert cli_x["weight"] == pytest.approx(3.0)

                # filters
                only_c1 = await asyncio.to_thread(instances_json, server.addr, svc, workdir,
                                                  "--cluster", "c1")
                assert json_endpoints(only_c1) == [cli_ep], only_c1
                both = await asyncio.to_thread(instances_json, server.addr, svc, workdir,
                                               "--cluster", "c1", "--cluster", "DEFAULT")
                assert json_endpoints(both) == sorted([cli_ep, py_ep]), both
                healthy = await asyncio.to_thread(instances_json, server.addr, svc, workdir,
                                                  "--healthy-only")
                assert json_endpoints(healthy) == sorted([cli_ep, py_ep]), healthy

                # table
                res = await asyncio.to_thread(run_cli, ["instances", "--server", server.addr, svc],
                                              workdir)
                assert res.rc == 0, str(res)
                rows = res.out_lines
                assert rows and rows[0].split() == INSTANCE_COLUMNS, f"table header\n{res}"
                table = {(r.split()[0], r.split()[1]): r for r in rows[1:]}
                assert set(table) == {(ip, str(port)) for ip, port in (cli_ep, py_ep)}, str(res)
                assert "lang=python" in table[(py_ep[0], str(py_ep[1]))], str(res)
                assert "c1" in table[(cli_ep[0], str(cli_ep[1]))].split(), str(res)

                # a change (same connection re-registers with another weight) → '~' line
                mark = watch.count()
                assert await pub.register_instance(py_register_param(svc, *py_ep, weight=4.0,
                                                                     metadata=py_meta))
                _, _, changed = await asyncio.to_thread(watch.wait_for, event("~", py_ep),
                                                        "a '~' line for the weight change",
                                                        start=mark)
                assert "weight" in changed and "→" in changed, changed

                # python deregisters → watch '-' line
                mark = watch.count()
                assert await pub.deregister_instance(DeregisterInstanceParam(
                    service_name=svc, ip=py_ep[0], port=py_ep[1]))
                await asyncio.to_thread(watch.wait_for, event("-", py_ep), "the python removal",
                                        start=mark)

                # SIGINT the CLI's register → python sees the instance go
                start = len(rec.snapshot())
                reg.interrupt(signal.SIGINT)
                rc = await asyncio.to_thread(reg.wait_exit)
                assert rc == 0, reg.diagnostics()
                await async_wait_for_event(rec, lambda ev: ev == [], "push without the CLI's "
                                           "instance after SIGINT", start=start, context=ctx)
                await asyncio.to_thread(watch.wait_for, event("-", cli_ep), "the CLI's removal")
                assert watch.alive(), watch.diagnostics()

        run_async(scenario())


# --------------------------------------------------------------------------------------
# 3. SIGKILL the server, restart it on the same port: register re-registers, watch goes on
# --------------------------------------------------------------------------------------

def test_cli_register_and_watch_survive_server_kill(server_factory, workdir):
    srv = server_factory("cli-restart")
    svc = unique("cli-kill")
    a, b = ("10.20.3.1", 7301), ("10.20.3.2", 7302)
    with Processes(workdir) as procs:
        ctx = _ctx(srv, procs)
        reg_a, _ = start_register(procs, "register-a", srv.addr, svc, a)
        watch = procs.start("watch", "watch", "--server", srv.addr, svc)
        watch.wait_line(watching_line(svc, 1))
        watch.wait_for(event("+", a), "the current instance")
        assert json_endpoints(instances_json(srv.addr, svc, workdir)) == [a]

        mark = watch.count()
        t0 = time.monotonic()
        srv.restart()
        t_ready = time.monotonic()
        print(f"\n[cli] server SIGKILLed and ready again on port {srv.port} in {t_ready - t0:.2f}s")

        wait_until(lambda: instances_json(srv.addr, svc, workdir), lambda lst: a in json_endpoints(lst),
                   "the held instance is back after the restart", timeout=15.0, context=ctx)
        back = time.monotonic() - t_ready
        print(f"[cli] instance back in `instances --json` {back:.2f}s after the restarted server "
              f"was ready")
        assert reg_a.alive(), f"register died with the server\n{reg_a.diagnostics()}"
        assert watch.alive(), f"watch died with the server\n{watch.diagnostics()}"

        # watch still receives changes after the restart
        reg_b, t_b = start_register(procs, "register-b", srv.addr, svc, b)
        _, t_seen, _ = watch.wait_for(event("+", b), f"'+ {b[0]}:{b[1]}' after the restart",
                                      start=mark, timeout=15.0)
        print(f"[cli] after the restart watch printed '+ {b[0]}:{b[1]}' "
              f"{(t_seen - t_b) * 1000:.0f} ms after register printed 'registered'")
        # and its +/- lines converge to the server's state (if it printed '- A' while the
        # server was down, a '+ A' must follow)
        wait_until(lambda: watch_view(watch.texts()), lambda v: v == {a, b},
                   "watch's +/- lines add up to {A, B}", timeout=15.0, context=ctx)
        print("[cli] watch lines since the kill:\n  " + "\n  ".join(watch.texts(mark)))
        assert json_endpoints(instances_json(srv.addr, svc, workdir)) == sorted([a, b])
        assert reg_a.alive() and reg_b.alive() and watch.alive(), procs.diagnostics()

        # clean exits: SIGTERM for register-a and watch, SIGINT for register-b
        mark = watch.count()
        reg_a.interrupt(signal.SIGTERM)
        assert reg_a.wait_exit() == 0, reg_a.diagnostics()
        reg_a.wait_line(deregistered_line(a, svc))
        watch.wait_for(event("-", a), f"'- {a[0]}:{a[1]}'", start=mark)
        reg_b.interrupt(signal.SIGINT)
        assert reg_b.wait_exit() == 0, reg_b.diagnostics()
        watch.wait_for(event("-", b), f"'- {b[0]}:{b[1]}'", start=mark)
        watch.interrupt(signal.SIGTERM)
        assert watch.wait_exit() == 0, watch.diagnostics()


# --------------------------------------------------------------------------------------
# 4. errors: one 'Error: ' line, non-zero exit, bounded time
# --------------------------------------------------------------------------------------

def _verb_args(verb: str, service: str) -> List[str]:
    return {
        "instances": ["instances", service],
        "services": ["services"],
        "watch": ["watch", service],
        "register": ["register", service, "--ip", "10.20.4.1", "--port", "7401"],
        "cluster": ["cluster"],
    }[verb]


@pytest.mark.parametrize("verb", ["instances", "services", "watch", "register"])
def test_cli_unreachable_server_fails_cleanly(workdir, verb):
    port = free_main_port()
    verb_args = _verb_args(verb, unique("cli-unreach"))
    args = [verb_args[0], "--server", f"127.0.0.1:{port}", *verb_args[1:]]
    res = run_cli(args, workdir)
    print(f"\n[cli] {verb} against a dead port: rc={res.rc} after {res.elapsed:.2f}s: "
          f"{res.stderr.strip()}")
    assert_cli_error(res)


@pytest.mark.parametrize("mode", ["close", "stream", "silent"])
@pytest.mark.parametrize("verb", ["services", "instances", "watch", "register"])
def test_cli_junk_server_fails_cleanly(workdir, verb, mode):
    main = free_main_port()
    junk = JunkServer(main + GRPC_OFFSET, mode)   # the CLI connects to P+1000
    try:
        svc = unique("cli-junk")
        verb_args = _verb_args(verb, svc)
        res = run_cli([verb_args[0], "--server", f"127.0.0.1:{main}", *verb_args[1:]], workdir)
    finally:
        junk.close()
    print(f"\n[cli] {verb} against a junk server ({mode}, {junk.connections} connection(s)): "
          f"rc={res.rc} after {res.elapsed:.2f}s: {res.stderr.strip()}")
    assert_cli_error(res)


INVALID = {
    "port-not-a-number": (["register", "SVC", "--ip", "1.2.3.4", "--port", "notanumber"], "notanumber"),
    "port-out-of-range": (["register", "SVC", "--ip", "1.2.3.4", "--port", "70000"], "70000"),
    "register-without-ip": (["register", "SVC", "--port", "8080"], "ip"),
    "server-not-host-port": (["services", "--server", "nonsense:xx"], "xx"),
    "unknown-option": (["services", "--no-such-option"], "no-such-option"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_cli_invalid_arguments_fail_cleanly(server, workdir, case):
    args, fragment = INVALID[case]
    svc = unique("cli-invalid")
    args = [svc if a == "SVC" else a for a in args]
    if "--server" not in args:   # a live server: the failure must come from the arguments
        args = [args[0], "--server", server.addr, *args[1:]]
    res = run_cli(args, workdir)
    print(f"\n[cli] {case}: rc={res.rc}: {res.stderr.strip()}")
    assert_cli_error(res, fragment)
    if args[0] == "register":   # nothing was registered
        gone = run_cli(["instances", "--server", server.addr, svc, "--json"], workdir)
        assert gone.rc != 0 or gone.json() == [], f"an invalid register registered something\n{gone}"


def test_cli_instances_of_unknown_service(server, workdir):
    svc = unique("no-such-svc")
    res = run_cli(["instances", "--server", server.addr, svc], workdir)
    assert_cli_error(res, rc=1)
    assert res.err_lines == [f"Error: no service {GROUP}@@{svc} in namespace public"], str(res)
    res = run_cli(["instances", "--server", server.addr, svc, "--json"], workdir)
    assert_cli_error(res, f"no service {GROUP}@@{svc} in namespace public", rc=1)


# --------------------------------------------------------------------------------------
# 5. services, cluster, namespaces, server lists, deregister
# --------------------------------------------------------------------------------------

def test_cli_services_lists_a_registered_service(server, workdir):
    group = unique("CG")
    svc, default_svc = unique("cli-svc"), unique("cli-svc-default")
    ep = ("10.20.5.1", 7501)
    with Processes(workdir) as procs:
        reg, _ = start_register(procs, "register", server.addr, svc, ep, group=group)
        reg_default, _ = start_register(procs, "register-default", server.addr, default_svc,
                                        ("10.20.5.2", 7502))

        res = run_cli(["services", "--server", server.addr, "--group", group], workdir)
        assert res.rc == 0 and res.out_lines == [svc], str(res)
        res = run_cli(["services", "--server", server.addr, "--group", group, "--json"], workdir)
        assert res.rc == 0, str(res)
        assert res.json() == {"count": 1, "services": [svc]}, str(res)

        res = run_cli(["services", "--server", server.addr], workdir)
        assert res.rc == 0 and default_svc in res.out_lines and svc not in res.out_lines, str(res)
        doc = run_cli(["services", "--server", server.addr, "--json"], workdir).json()
        assert default_svc in doc["services"] and doc["count"] == len(doc["services"]), doc

        # REGISTRAR_SERVER instead of --server
        res = run_cli(["services", "--group", group], workdir,
                      env={"REGISTRAR_SERVER": server.addr})
        assert res.rc == 0 and res.out_lines == [svc], str(res)

        # a server list whose first member is down
        dead = free_main_port()
        res = run_cli(["services", "--server", f"127.0.0.1:{dead},{server.addr}", "--group", group],
                      workdir)
        print(f"\n[cli] services with a dead first server: rc={res.rc} after {res.elapsed:.2f}s")
        assert res.rc == 0 and res.out_lines == [svc], str(res)

        listing = instances_json(server.addr, svc, workdir, "--group", group)
        assert json_endpoints(listing) == [ep]

        reg.interrupt(signal.SIGTERM)
        assert reg.wait_exit() == 0, reg.diagnostics()
        reg.wait_line(deregistered_line(ep, svc, group))
        reg_default.interrupt(signal.SIGINT)
        assert reg_default.wait_exit() == 0, reg_default.diagnostics()


def test_cli_cluster_lists_single_node_up(server, workdir):
    res = run_cli(["cluster", "--server", server.addr], workdir)
    assert res.rc == 0, str(res)
    lines = res.out_lines
    assert lines, str(res)
    header = lines[0].split()
    assert "ADDRESS" in header and "STATE" in header, f"cluster table header\n{res}"
    rows = lines[1:]
    assert len(rows) == 1, f"a single node must list exactly one member\n{res}"
    cells = rows[0].split()
    assert cells[header.index("STATE")] == "UP", str(res)
    assert cells[header.index("ADDRESS")].endswith(f":{server.port}"), str(res)

    res = run_cli(["cluster", "--server", server.addr, "--json"], workdir)
    assert res.rc == 0, str(res)
    doc = res.json()
    members = doc if isinstance(doc, list) else next(
        (v for v in doc.values() if isinstance(v, list)), None)
    assert isinstance(members, list) and len(members) == 1, f"one member in the JSON\n{res}"
    assert "UP" in json.dumps(members[0]), str(res)


def test_cli_instances_of_service_without_instances(server, workdir):
    svc = unique("cli-empty")
    assert v1_request(server, "POST", "/nacos/v1/ns/service", {"serviceName": svc}) == "ok"
    res = run_cli(["instances", "--server", server.addr, svc], workdir)
    assert res.rc == 0, str(res)
    assert "(no instances)" in res.out_lines, str(res)
    assert instances_json(server.addr, svc, workdir) == []


def test_cli_namespace_isolation(server, workdir):
    svc, ns = unique("cli-ns"), unique("ns")
    ep = ("10.20.6.1", 7601)
    with Processes(workdir) as procs:
        reg, _ = start_register(procs, "register", server.addr, svc, ep, "--namespace", ns)
        listing = instances_json(server.addr, svc, workdir, "--namespace", ns)
        assert json_endpoints(listing) == [ep]
        res = run_cli(["instances", "--server", server.addr, svc], workdir)
        assert_cli_error(res, f"no service {GROUP}@@{svc} in namespace public", rc=1)
        res = run_cli(["services", "--server", server.addr, "--namespace", ns], workdir)
        assert res.rc == 0 and res.out_lines == [svc], str(res)
        reg.interrupt(signal.SIGINT)
        assert reg.wait_exit() == 0, reg.diagnostics()


def test_cli_deregister(server, workdir):
    """`deregister` removes a v1 (HTTP heartbeat) instance, and refuses one held by a live
    gRPC connection."""
    svc = unique("cli-dereg")
    http_ep, held_ep = ("10.20.7.1", 7701), ("10.20.7.2", 7702)
    assert v1_request(server, "POST", "/nacos/v1/ns/instance",
                      {"serviceName": svc, "ip": http_ep[0], "port": str(http_ep[1]),
                       "metadata": json.dumps({"via": "http"})}) == "ok"
    with Processes(workdir) as procs:
        reg, _ = start_register(procs, "register", server.addr, svc, held_ep)
        listing = wait_until(lambda: instances_json(server.addr, svc, workdir),
                             lambda lst: json_endpoints(lst) == sorted([http_ep, held_ep]),
                             "both instances listed", context=_ctx(server, procs))
        assert {(x["ip"], x["port"]): x["metadata"] for x in listing}[http_ep] == {"via": "http"}

        res = run_cli(["deregister", "--server", server.addr, svc, "--ip", held_ep[0],
                       "--port", str(held_ep[1])], workdir)
        line = assert_cli_error(res, rc=1)
        assert "connection" in line.lower(), f"the error should say a live connection owns it\n{res}"
        assert held_ep in json_endpoints(instances_json(server.addr, svc, workdir))
        assert reg.alive(), reg.diagnostics()

        res = run_cli(["deregister", "--server", server.addr, svc, "--ip", http_ep[0],
                       "--port", str(http_ep[1])], workdir)
        assert res.rc == 0 and not res.err_lines, str(res)
        assert json_endpoints(instances_json(server.addr, svc, workdir)) == [held_ep]

        reg.interrupt(signal.SIGINT)
        assert reg.wait_exit() == 0, reg.diagnostics()
