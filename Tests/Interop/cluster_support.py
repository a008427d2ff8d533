"""Cluster plumbing shared by Interop/test_cluster.py (gRPC SDKs) and InteropV1/test_cluster_v1.py
(v1 HTTP SDK): N `registrar serve --members ... --cluster-secret S` processes on loopback (HTTP on
P, SDK gRPC on P+1000, peers on P+1001), their HTTP reads, crash and restart, and Nacos's v1
responsibility hash. Every wait is bounded; failures carry every member's log tail.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple
from unittest import mock

import pytest

from interop_support import (CLUSTER_OFFSET, GRPC_OFFSET, PyClients, RegistrarServer, die_with_parent,
                             pick_main_port, resolve_binary, retry_start, tail_file, unique, wait_until)

SECRET = "interop-cluster-secret"
GROUP = "DEFAULT_GROUP"
READY_TIMEOUT = 20.0     # default bound for a start: every member ready and all UP
READINESS = "/nacos/v1/console/health/readiness"
METRICS = "/nacos/v1/ns/operator/metrics"
LIST = "/nacos/v1/ns/instance/list"
NODES = "/nacos/v1/core/cluster/nodes"

Endpoint = Tuple[str, int]
View = Dict[str, Dict[Endpoint, bool]]   # {member address: {endpoint: healthy}}

# loopback HTTP of our own probes never goes through an http_proxy from the environment
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pick_cluster_ports(n: int) -> List[int]:
    """n main ports P such that every P, P+1000, P+1001 is free and no two nodes overlap."""
    taken: Set[int] = set()
    ports: List[int] = []
    for _ in range(200):
        p = pick_main_port()
        own = {p, p + GRPC_OFFSET, p + CLUSTER_OFFSET}
        if own & taken:
            continue
        ports.append(p)
        taken |= own
        if len(ports) == n:
            return ports
    raise RuntimeError(f"could not find {n} non-overlapping port triples")


def http(port: int, method: str, path: str, params: Optional[dict] = None,
         timeout: float = 5.0, ca: Optional[str] = None, token: Optional[str] = None,
         headers: Optional[dict] = None) -> Tuple[int, str]:
    """(status, body) of one request to 127.0.0.1:port; status 0 when nothing answered. With
    `ca`: https trusting that CA; with `token`: sent as the accessToken parameter."""
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}{path}"
    params = dict(params or {})
    if token:
        params["accessToken"] = token
    if params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, method=method, data=b"" if method in ("POST", "PUT") else None,
                                 headers=headers or {})
    opener = _HTTP
    if ca:
        import ssl
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")
    except OSError as e:
        return 0, f"<no answer: {e}>"


# --------------------------------------------------------------------------------------
# members and clusters
# --------------------------------------------------------------------------------------

class ClusterNode(RegistrarServer):
    """One member on a main port fixed up front (the member list names it; `addr` is its
    member address). Ready when readiness answers 200 "OK" (after the start-up snapshot)."""

    def __init__(self, workdir: Path, name: str, port: int, ports: Sequence[int],
                 extra: Sequence[str] = (), env: Optional[dict] = None, ca: Optional[str] = None):
        super().__init__(workdir, resolve_binary(), name=name, extra_env=env)
        self.port = port
        self.ca = ca                        # https to the HTTP port, trusting this CA
        self.token: Optional[str] = None    # sent with every HTTP read (auth on)
        self.members = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.extra = list(extra)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> List[str]:
        return super().command() + ["--members", self.members, "--cluster-secret", SECRET,
                                    *self.extra]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> List[int]:
        """Polls readiness until 200 "OK"; returns the HTTP statuses seen before (0 = no
        answer). Raises RuntimeError('... exited ...') if the process dies first."""
        deadline = time.monotonic() + timeout
        seen: List[int] = []
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(f"{self.name} exited with code {rc} before it was ready")
            status, body = http(self.port, "GET", READINESS, timeout=1.0, ca=self.ca)
            if status == 200 and body.strip() == "OK":
                return seen
            if not seen or seen[-1] != status:
                seen.append(status)
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s (readiness statuses "
                                   f"seen: {seen}; last answer: {status} {body[:120]!r})")
            time.sleep(0.05)

    def crash(self) -> Optional[int]:
        """kill -9 (a real SIGKILL) and reap; returns the exit status (-9)."""
        assert self.is_running(), f"{self.describe()} is not running"
        self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=5)
        self._close_log()
        return rc

    def _wait_ready(self, timeout: float) -> None:
        """What RegistrarServer.restart waits for: readiness (statuses seen before it kept in
        `seen_before_ready`)."""
        self.seen_before_ready = self.wait_ready(timeout)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    # -- HTTP reads -------------------------------------------------------------------
    def get_json(self, path: str, params: Optional[dict] = None):
        status, body = http(self.port, "GET", path, params, ca=self.ca, token=self.token)
        if status != 200:
            raise RuntimeError(f"GET {path} {params or ''} on {self.name}: {status} {body[:300]}")
        return json.loads(body)

    def metrics(self) -> dict:
        return self.get_json(METRICS, {"onlyStatus": "false"})

    def hosts(self, service: str, group: str = GROUP) -> List[dict]:
        return self.get_json(LIST, {"serviceName": service, "groupName": group})["hosts"]

    def hosts_by_endpoint(self, service: str) -> Dict[Endpoint, dict]:
        return {(h["ip"], int(h["port"])): h for h in self.hosts(service)}

    def host_endpoints(self, service: str, group: str = GROUP) -> List[Endpoint]:
        return sorted((h["ip"], int(h["port"])) for h in self.hosts(service, group))

    def member_states(self) -> Dict[str, str]:
        """{member address: UP / SUSPICIOUS / DOWN} as this node sees them."""
        return {m["address"]: m["state"] for m in self.get_json(NODES)["data"]}


class Cluster:
    """`size` members on loopback started at once; started once every member is ready and
    every member sees every member UP. `extra` goes to every member's command line; `label`
    prefixes the printed lines."""

    def __init__(self, workdir: Path, tag: str, extra: Sequence[str] = (), size: int = 3,
                 label: str = "cluster", ready_timeout: float = READY_TIMEOUT, env: Optional[dict] = None,
                 ca: Optional[str] = None, admin_password: Optional[str] = None):
        self.workdir = Path(workdir) / tag
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tag = tag
        self.extra = list(extra)
        self.size = size
        self.label = label
        self.ready_timeout = ready_timeout
        self.env = env            # every member's extra environment
        self.ca = ca              # the HTTP ports speak https, trusting this CA
        self.admin_password = admin_password   # auth on: the reads log in as nacos with it
        self.nodes: List[ClusterNode] = []

    def __getitem__(self, i: int) -> ClusterNode:
        return self.nodes[i]

    @property
    def addresses(self) -> List[str]:
        return [n.addr for n in self.nodes]

    def by_address(self, address: str) -> ClusterNode:
        return next(n for n in self.nodes if n.addr == address)

    def start(self) -> "Cluster":
        try:
            return retry_start(self._start, self.kill_all)
        except RuntimeError as e:
            raise RuntimeError(f"cluster {self.tag} did not start: {e}\n{self.logs()}") from None

    def _start(self, attempt: int) -> "Cluster":
        ports = pick_cluster_ports(self.size)
        self.nodes = [ClusterNode(self.workdir, f"{self.tag}-node{i + 1}", p, ports, self.extra, self.env, self.ca)
                      for i, p in enumerate(ports)]
        t0 = time.monotonic()
        for n in self.nodes:
            n._spawn(f"attempt {attempt + 1}: ")
        for n in self.nodes:
            n.wait_ready(max(1.0, self.ready_timeout - (time.monotonic() - t0)))
        t_ready = time.monotonic() - t0
        if self.admin_password:
            token = self.login(self.nodes[0], "nacos", self.admin_password)
            for n in self.nodes:
                n.token = token   # the members share the token secret
        self._wait_all_up(t0 + self.ready_timeout)
        print(f"\n[{self.label}] {self.tag}: {self.size} members ready in {t_ready:.2f}s, "
              f"all UP for each other after {time.monotonic() - t0:.2f}s, on {self.addresses}")
        return self

    def _wait_all_up(self, deadline: float) -> None:
        """Steady state: every member has probed every other one successfully (peers start
        SUSPICIOUS, and probe failures from before a peer listened would count towards
        declaring it DOWN)."""
        last: object = None
        while True:
            try:
                last = {n.addr: n.member_states() for n in self.nodes}
                if all(set(states) == set(self.addresses) and set(states.values()) == {"UP"}
                       for states in last.values()):
                    return
            except Exception as e:  # noqa: BLE001 - not yet
                last = f"<{type(e).__name__}: {e}>"
            if time.monotonic() >= deadline:
                raise RuntimeError(f"members did not all see each other UP within "
                                   f"{self.ready_timeout:.0f}s; last {NODES}: {last}")
            time.sleep(0.1)

    def login(self, node: ClusterNode, username: str, password: str) -> str:
        status, body = http(node.port, "POST", "/nacos/v1/auth/login",
                            {"username": username, "password": password}, ca=self.ca)
        if status != 200:
            raise RuntimeError(f"login as {username} on {node.name}: {status} {body[:200]}")
        return json.loads(body)["accessToken"]

    def kill_all(self) -> None:
        for n in self.nodes:
            n.kill()

    def stop(self) -> None:
        """SIGTERM every member at once, then reap (SIGKILL after 10 s)."""
        for n in self.nodes:
            if n.is_running():
                try:
                    n.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for n in self.nodes:
            rc, killed = n.stop()
            if rc is not None:
                print(f"[{self.label}] {n.name} stopped: rc={rc} sigkill_needed={killed}")

    def metrics(self, nodes: Optional[Sequence[ClusterNode]] = None) -> Dict[str, dict]:
        """{member address: metrics JSON} of `nodes` (default: every member)."""
        return {n.addr: n.metrics() for n in (nodes if nodes is not None else self.nodes)}

    def logs(self, lines: int = 50) -> str:
        return "\n".join(f"--- {n.describe()} log tail ({n.log_path}) ---\n{n.log_tail(lines)}"
                         for n in self.nodes)

    def ctx(self, extra: Optional[Callable[[], str]] = None) -> Callable[[], str]:
        """A `context` callable for wait_until: every node's state and log tail."""
        return lambda: self.logs() + (f"\n{extra()}" if extra else "")

    @contextlib.contextmanager
    def diagnose(self, sdk_log: Optional[Path] = None) -> Iterator[None]:
        """Any failure inside gets every member's log tail (and the SDK log tail) appended."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - re-raised with context
            extra = f"\n--- nacos-sdk-python log tail ({sdk_log}) ---\n{tail_file(sdk_log, 40)}" \
                if sdk_log is not None else ""
            raise AssertionError(f"{type(e).__name__}: {e}\n{self.logs()}{extra}") from e


def _started(c: Cluster) -> Cluster:
    try:
        return c.start()
    except Exception as e:  # noqa: BLE001
        c.kill_all()
        pytest.fail(str(e), pytrace=False)


def cluster_fixtures(shared_tag: str, workdir_fixture: str, *needs: str, **defaults):
    """A test module's `cluster` fixture (one Cluster for the module) and `fresh_cluster`
    fixture (make(tag, **kw): a Cluster of the test's own, kw overriding `defaults`). They live
    in the directory that fixture `workdir_fixture` gives, after the fixtures named in `needs`;
    a failed start fails the test; every cluster is stopped at the end."""
    def setup(request) -> Path:
        for name in needs:
            request.getfixturevalue(name)
        return request.getfixturevalue(workdir_fixture)

    @pytest.fixture(scope="module")
    def cluster(request) -> Iterator[Cluster]:
        c = _started(Cluster(setup(request), shared_tag, **defaults))
        yield c
        c.stop()

    @pytest.fixture
    def fresh_cluster(request) -> Iterator[Callable[..., Cluster]]:
        workdir, started = setup(request), []

        def make(tag: str, **kw) -> Cluster:
            started.append(Cluster(workdir, unique(tag), **{**defaults, **kw}))
            return _started(started[-1])
        yield make
        for c in started:
            c.stop()

    return cluster, fresh_cluster


def serve_once(workdir: Path, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess:
    """`registrar serve --host 127.0.0.1 *args` run to its end (a start expected to be refused)."""
    cmd = [str(resolve_binary()), "serve", "--host", "127.0.0.1", *args]
    try:
        return subprocess.run(die_with_parent(cmd), stdin=subprocess.DEVNULL, capture_output=True,
                              encoding="utf-8", errors="replace", timeout=timeout,
                              env=RegistrarServer.clean_environment(), cwd=str(workdir))
    except subprocess.TimeoutExpired as e:   # subprocess.run has killed it
        raise AssertionError(f"$ {' '.join(cmd)}\nstill running after {timeout:.0f}s (expected a refusal)\n"
                             f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from None


def line_with(text: str, fragment: str) -> str:
    """The first line of `text` holding `fragment` (else its last 300 characters)."""
    return next((ln for ln in text.splitlines() if fragment in ln), text.strip()[-300:])


# --------------------------------------------------------------------------------------
# reads across members
# --------------------------------------------------------------------------------------

def wait_endpoints(node: ClusterNode, service: str, expected: Sequence[Endpoint], cluster: Cluster,
                   desc: str = "", timeout: float = 10.0, interval: float = 0.1) -> float:
    """Polls node's v1 list until it is exactly `expected`; returns when that happened
    (time.monotonic())."""
    want = sorted(expected)
    wait_until(lambda: node.host_endpoints(service), lambda eps: eps == want,
               f"{node.name} lists {service} as {want} {desc}".rstrip(), timeout=timeout,
               interval=interval, context=cluster.ctx())
    return time.monotonic()


async def wait_endpoints_on(nodes: Sequence[ClusterNode], service: str, expected: Sequence[Endpoint],
                            cluster: Cluster, desc: str = "", timeout: float = 10.0,
                            interval: float = 0.1) -> List[float]:
    """wait_endpoints on every node at once (a thread each); returns when each got there."""
    return list(await asyncio.gather(*(asyncio.to_thread(wait_endpoints, n, service, expected, cluster,
                                                         desc, timeout, interval) for n in nodes)))


def listing(nodes: Sequence[ClusterNode], service: str) -> View:
    """{node address: {endpoint: healthy}} of every node's /instance/list."""
    return {n.addr: {ep: h["healthy"] for ep, h in n.hosts_by_endpoint(service).items()} for n in nodes}


def all_listed_healthy(view: View, eps: Sequence[Endpoint]) -> bool:
    return all(set(hosts) == set(eps) and all(hosts.values()) for hosts in view.values())


def comparable(host: dict) -> tuple:
    """What must be identical for one instance on every node."""
    return (host["ip"], int(host["port"]), float(host["weight"]), host["healthy"], host["enabled"],
            host["ephemeral"], host["clusterName"], json.dumps(host.get("metadata") or {}, sort_keys=True))


def brief(view: View) -> Dict[str, List[str]]:
    """A listing in short: {member port: ['ip:port=H' (healthy) or 'ip:port=U']}."""
    return {a[-5:]: sorted(f"{ip}:{p}={'H' if ok else 'U'}" for (ip, p), ok in h.items())
            for a, h in view.items()}


def deltas(before: Dict[str, dict], after: Dict[str, dict], key: str) -> Dict[str, int]:
    """{member address: after - before} of one counter (Cluster.metrics snapshots)."""
    return {a: int(after[a][key]) - int(before[a][key]) for a in after}


# --------------------------------------------------------------------------------------
# nacos-sdk-python 3 (gRPC) clients bound to given members
# --------------------------------------------------------------------------------------

class Members:
    """What PyClients / rust_options read from a 'server': an address list and a log tail."""

    def __init__(self, nodes: Sequence[ClusterNode]):
        self.nodes = list(nodes)
        self.addr = ",".join(n.addr for n in nodes)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"--- {n.name} ---\n{n.log_tail(lines)}" for n in self.nodes)


class ClusterClients(PyClients):
    """nacos-sdk-python clients, each given a list of members. The SDK starts at a random
    entry of its server list (randrange(n), then +1); here it always starts at the first one,
    so a test knows which member owns the client (and fails over along the list)."""

    def __init__(self, sdk_dir: Path):
        super().__init__(None, sdk_dir)

    async def on(self, *nodes: ClusterNode, **kw):
        self.server = Members(nodes)
        with mock.patch("v2.nacos.transport.nacos_server_connector.randrange",
                        lambda lo, hi: hi - 1):
            client = await self.new(**kw)
        assert connected_grpc_port(client) == nodes[0].grpc_port, \
            f"SDK client connected to {connected_grpc_port(client)}, not {nodes[0].name}"
        return client


async def sdk_persistent_register(pc: "ClusterClients", node: ClusterNode, service: str, ip: str,
                                  port: int) -> Tuple[bool, str]:
    """A persistent register (PersistentInstanceRequest) through nacos-sdk-python on `node`:
    (whether it succeeded, what the SDK returned or raised)."""
    from interop_support import py_register_param
    client = await pc.on(node)
    try:
        ok = await client.register_instance(py_register_param(service, ip, port, ephemeral=False))
        return ok is True, f"returned {ok!r}"
    except Exception as e:  # noqa: BLE001 - the SDK raises NacosException on an error code
        return False, f"raised {type(e).__name__}: {e}"


def connected_grpc_port(client) -> Optional[int]:
    info = client.grpc_client_proxy.rpc_client.get_current_server()
    return int(info.server_port) if info is not None else None


def redo_ready(client) -> bool:
    """Whether the SDK's redo service has seen the (re)connection (it skips redo otherwise)."""
    return bool(client.grpc_client_proxy.redo_service._connected)


# --------------------------------------------------------------------------------------
# Nacos's v1 responsibility hash
# --------------------------------------------------------------------------------------

def java_hash(text: str) -> int:
    """Java's String.hashCode (UTF-16 units, *31, 32-bit signed wrap-around)."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (h * 31 + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def responsible(ip: str, port: int, members: Sequence[str]) -> str:
    """Nacos DistroMapper: abs(hashCode % Integer.MAX_VALUE) % n over the sorted members.
    (Java's % truncates; abs of it equals abs(h) % MAX_VALUE, also for Integer.MIN_VALUE.)"""
    ordered = sorted(members)
    return ordered[(abs(java_hash(f"{ip}:{port}")) % 2147483647) % len(ordered)]


_ip_counter = itertools.count(1)
IP_BASE = random.Random().randint(0, 200)   # second octet of every generated ip, per session


def endpoints_owned(addresses: Sequence[str], wanted: Sequence[str]) -> List[Endpoint]:
    """One fresh ip:port per entry of `wanted`, owned (by the hash over `addresses`) by it."""
    out: List[Endpoint] = []
    for owner in wanted:
        for _ in range(10_000):
            n = next(_ip_counter)
            ep = (f"10.{IP_BASE}.{n // 250}.{n % 250 + 1}", 8000 + n % 1000)
            if responsible(*ep, addresses) == owner:
                out.append(ep)
                break
        else:
            raise RuntimeError(f"no endpoint hashes to {owner}")
    return out
