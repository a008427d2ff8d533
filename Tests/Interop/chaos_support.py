"""Plumbing of the cluster chaos suite (test_chaos.py): a topology of network namespaces made by
the test, three members each in its own namespace, nacos-sdk-python client processes inside
those namespaces (chaos_clients.py), faults (tc netem, kill -9), and a checker that compares every member's view
with what the clients hold.

Topology (everything named with one random tag, so parallel or stale runs never collide):

    host netns:  bridge rcb<tag> (no address: the host's own routes are never touched)
    rc<tag>-m1   10.213.0.1/24  member 1 + its client process      \
    rc<tag>-m2   10.213.0.2/24  member 2 + its client process       > veth to the bridge each
    rc<tag>-m3   10.213.0.3/24  member 3 + its client process      /
    rc<tag>-cl   10.213.0.10/24 stand-alone clients (half-open test)

Faults are iptables rules inside a namespace (this machine's kernel has no sch_netem), plus
netem delay where the kernel has it. Members listen on the same main port P in every namespace.
The checker reads each member over
loopback inside its namespace (curl under `ip netns exec`), so it still sees a partitioned
member. Faults only ever touch the interfaces inside these namespaces.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from interop_support import die_with_parent, kill_and_reap, resolve_binary, scrub_nacos_env, tail_file, wait_until

PORT = 8848
SECRET = "chaos-cluster-secret"
SUBNET = "10.213.0"
IFACE = "ceth0"              # the namespace end of every veth pair
PREFIX = "rc"                # every namespace / link this suite makes starts with it
LIST = "/nacos/v1/ns/instance/list"
READINESS = "/nacos/v1/console/health/readiness"
NODES = "/nacos/v1/core/cluster/nodes"

Endpoint = Tuple[str, int]


def run(*cmd: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """One bounded command; a failure raises with its stderr (CalledProcessError)."""
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check)


def in_ns(ns: str, *cmd: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)


def can_make_namespaces() -> Optional[str]:
    """None if this machine lets the suite make namespaces, else why not (the skip reason)."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns add)"
    for tool in ("ip", "tc", "iptables", "curl", "setpriv"):
        if not shutil.which(tool):
            return f"needs {tool} (iproute2 / iptables / curl / util-linux)"
    probe = f"{PREFIX}probe{uuid.uuid4().hex[:4]}"
    made = run("ip", "netns", "add", probe, check=False)
    run("ip", "netns", "del", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    return None


# --------------------------------------------------------------------------------------
# the namespaces
# --------------------------------------------------------------------------------------

class Topology:
    """The bridge, the namespaces and their veth pairs. `close` deletes all of it and is safe to
    call after a half-made setup."""

    def __init__(self, members: int = 3):
        self.tag = uuid.uuid4().hex[:5]
        self.bridge = f"{PREFIX}b{self.tag}"
        self.member_ns = [f"{PREFIX}{self.tag}-m{i + 1}" for i in range(members)]
        self.client_ns = f"{PREFIX}{self.tag}-cl"
        self.ips: Dict[str, str] = {ns: f"{SUBNET}.{i + 1}" for i, ns in enumerate(self.member_ns)}
        self.ips[self.client_ns] = f"{SUBNET}.10"
        self.made_ns: List[str] = []
        self.made_bridge = False

    def open(self) -> "Topology":
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_bridge = True
        run("ip", "link", "set", self.bridge, "up")
        for i, (ns, ip) in enumerate(self.ips.items()):
            self._add_namespace(ns, ip, f"{PREFIX}v{self.tag}{i}")
        return self

    def _add_namespace(self, ns: str, ip: str, host_if: str) -> None:
        run("ip", "netns", "add", ns)
        self.made_ns.append(ns)
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", f"{host_if}p")
        run("ip", "link", "set", f"{host_if}p", "netns", ns)
        run("ip", "link", "set", host_if, "master", self.bridge)
        run("ip", "link", "set", host_if, "up")
        in_ns(ns, "ip", "link", "set", f"{host_if}p", "name", IFACE)
        in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", IFACE)
        in_ns(ns, "ip", "link", "set", IFACE, "up")
        in_ns(ns, "ip", "link", "set", "lo", "up")

    def close(self) -> List[str]:
        """Deletes every namespace (their veth ends go with them) and the bridge; returns what
        could not be deleted."""
        left = []
        for ns in self.made_ns:
            if run("ip", "netns", "del", ns, check=False).returncode != 0:
                left.append(ns)
        if self.made_bridge and run("ip", "link", "del", self.bridge, check=False).returncode != 0:
            left.append(self.bridge)
        self.made_ns.clear()
        self.made_bridge = False
        return left

    # -- faults (inside a namespace only) -----------------------------------------------
    # This machine's kernel has no sch_netem (and no tc classifiers or actions), so faults are
    # iptables rules in the namespace's own filter table, on its veth end only. netem is used for
    # delay where the kernel has it.
    def _iptables(self, ns: str, *rule: str) -> None:
        in_ns(ns, "iptables", "-w", "5", *rule)

    def partition(self, ns: str) -> None:
        """Cuts `ns` off silently: every packet in or out of its link is dropped (no RST, no
        ICMP), so established connections go half-open; loopback inside it is untouched."""
        self._iptables(ns, "-A", "INPUT", "-i", IFACE, "-j", "DROP")
        self._iptables(ns, "-A", "OUTPUT", "-o", IFACE, "-j", "DROP")

    def lossy(self, ns: str, loss: float, delay_ms: int) -> str:
        """`loss` (0..1) of the packets dropped each way on `ns`'s link, and `delay_ms` added on
        its egress if the kernel has netem. Returns what was applied (for the report)."""
        p = f"{loss:.2f}"
        self._iptables(ns, "-A", "INPUT", "-i", IFACE, "-m", "statistic", "--mode", "random",
                       "--probability", p, "-j", "DROP")
        self._iptables(ns, "-A", "OUTPUT", "-o", IFACE, "-m", "statistic", "--mode", "random",
                       "--probability", p, "-j", "DROP")
        applied = f"iptables: {loss:.0%} random drop each way"
        if delay_ms and self.has_netem(ns):
            in_ns(ns, "tc", "qdisc", "replace", "dev", IFACE, "root", "netem", "delay", f"{delay_ms}ms")
            applied += f"; netem delay {delay_ms}ms"
        elif delay_ms:
            applied += f"; NO delay (this kernel has no sch_netem)"
        return applied

    @staticmethod
    def has_netem(ns: str) -> bool:
        ok = in_ns(ns, "tc", "qdisc", "replace", "dev", IFACE, "root", "netem", "delay", "0ms",
                   check=False).returncode == 0
        in_ns(ns, "tc", "qdisc", "del", "dev", IFACE, "root", check=False)
        return ok

    def heal(self, ns: str) -> None:
        """Removes every fault from `ns`: its filter rules and any qdisc."""
        self._iptables(ns, "-F", "INPUT")
        self._iptables(ns, "-F", "OUTPUT")
        in_ns(ns, "tc", "qdisc", "del", "dev", IFACE, "root", check=False)

    def faults(self, ns: str) -> str:
        rules = in_ns(ns, "iptables", "-S", check=False).stdout.strip().replace("\n", "; ")
        qdisc = in_ns(ns, "tc", "qdisc", "show", "dev", IFACE, check=False).stdout.strip()
        return f"{rules} | {qdisc}"


def remove_stale(prefix: str = PREFIX) -> None:
    """Deletes namespaces and bridges a previous run of this suite left behind (a hard-killed
    pytest never reaches its teardown). Only names of this suite's shape are touched."""
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix) and "-" in name and name.rsplit("-", 1)[1] in ("m1", "m2", "m3", "cl"):
            run("ip", "netns", "del", name, check=False)
    for line in run("ip", "-o", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        name = line.split(":")[1].strip() if ":" in line else ""
        if name.startswith(f"{prefix}b") and len(name) == len(prefix) + 6:
            run("ip", "link", "del", name, check=False)


# --------------------------------------------------------------------------------------
# members
# --------------------------------------------------------------------------------------

def http_in(ns: str, path: str, params: Optional[dict] = None, timeout: float = 3.0) -> Tuple[int, str]:
    """(status, body) of a GET to 127.0.0.1:PORT inside `ns`; status 0 when nothing answered."""
    from urllib.parse import urlencode
    url = f"http://127.0.0.1:{PORT}{path}" + (f"?{urlencode(params)}" if params else "")
    out = in_ns(ns, "curl", "-s", "--noproxy", "*", "-m", str(timeout), "-o", "-", "-w", "\n%{http_code}", url,
                check=False, timeout=timeout + 5)
    body, _, status = out.stdout.rpartition("\n")
    return (int(status) if status.strip().isdigit() else 0), body


class Member:
    """One `registrar serve` in its namespace, advertised as 10.213.0.i:PORT, with its own data
    dir and an append-only log kept across restarts."""

    def __init__(self, workdir: Path, ns: str, ip: str, members: Sequence[str]):
        self.ns, self.ip = ns, ip
        self.name = ns.rsplit("-", 1)[1]
        self.addr = f"{ip}:{PORT}"
        self.members = ",".join(members)
        self.data_dir = workdir / f"{self.name}-data"
        self.log_path = workdir / f"{self.name}.log"
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def command(self) -> List[str]:
        return ["ip", "netns", "exec", self.ns, str(resolve_binary()), "serve", "--host", "0.0.0.0",
                "--port", str(PORT), "--data-dir", str(self.data_dir), "--members", self.members,
                "--cluster-secret", SECRET, "--advertise", self.addr, "--auth", "off", "--log-level", "info"]

    def spawn(self) -> None:
        """Starts the process (not waiting for it); the log says which start this is."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"=== start {self.starts}: {' '.join(self.command())}\n".encode())
            env = {k: v for k, v in scrub_nacos_env().items() if not k.startswith("REGISTRAR_")}
            self.proc = subprocess.Popen(die_with_parent(self.command()), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Polls readiness (200 "OK" once the start-up snapshot is loaded), bounded."""
        deadline = time.monotonic() + timeout
        last: Tuple[int, str] = (0, "")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited rc={self.proc.returncode} before ready\n{self.log_tail()}")
            last = http_in(self.ns, READINESS, timeout=1.0)
            if last[0] == 200 and last[1].strip() == "OK":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s (last {last})\n{self.log_tail()}")

    def kill9(self) -> None:
        """A real crash: SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_and_reap(self.proc)

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name} ({self.addr}) log tail ({self.log_path}) ---\n{tail_file(self.log_path, lines)}"

    # -- reads --------------------------------------------------------------------------
    def get_json(self, path: str, params: Optional[dict] = None):
        status, body = http_in(self.ns, path, params)
        if status != 200:
            raise RuntimeError(f"GET {path} on {self.name}: {status} {body[:200]}")
        return json.loads(body)

    def hosts(self, service: str) -> Dict[Endpoint, bool]:
        """{endpoint: healthy} of the v1 instance list of `service` on this member."""
        hosts = self.get_json(LIST, {"serviceName": service})["hosts"]
        return {(h["ip"], int(h["port"])): bool(h["healthy"]) for h in hosts}

    def member_states(self) -> Dict[str, str]:
        return {m["address"]: m["state"] for m in self.get_json(NODES)["data"]}


class Cluster:
    """The three members. Started once every member is ready and sees every other one UP."""

    def __init__(self, topo: Topology, workdir: Path):
        self.topo = topo
        addrs = [f"{topo.ips[ns]}:{PORT}" for ns in topo.member_ns]
        self.members = [Member(workdir, ns, topo.ips[ns], addrs) for ns in topo.member_ns]

    def __getitem__(self, i: int) -> Member:
        return self.members[i]

    def start(self, timeout: float = 30.0) -> "Cluster":
        t0 = time.monotonic()
        for m in self.members:
            m.spawn()
        for m in self.members:
            m.wait_ready(max(1.0, timeout - (time.monotonic() - t0)))
        self.wait_all_up(max(1.0, timeout - (time.monotonic() - t0)))
        return self

    def wait_all_up(self, timeout: float = 15.0) -> float:
        """Waits until every member sees every member UP; returns how long it took."""
        t0 = time.monotonic()
        want = {m.addr for m in self.members}

        def states():
            return {m.name: m.member_states() for m in self.members}
        wait_for(states, lambda s: all(set(v) == want and set(v.values()) == {"UP"} for v in s.values()),
                 "every member sees every member UP", timeout, self.logs)
        return time.monotonic() - t0

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def logs(self, lines: int = 30) -> str:
        return "\n".join(m.log_tail(lines) for m in self.members)


# --------------------------------------------------------------------------------------
# bounded waiting and the checker
# --------------------------------------------------------------------------------------

def wait_for(fn: Callable[[], object], pred: Callable[[object], bool], desc: str, timeout: float,
             context: Callable[[], str] = lambda: "", interval: float = 0.2) -> object:
    """fn() until pred holds, at most `timeout` s (this suite's own bounds, past MAX_WAIT); an
    exception from fn counts as "not yet" (a member may be down or partitioned)."""
    return wait_until(fn, pred, desc, timeout, interval, context, clamp=False)


def views(members: Iterable[Member], service: str) -> Dict[str, object]:
    """{member name: {endpoint: healthy} or '<error>'} of every member (a down one says why)."""
    out: Dict[str, object] = {}
    for m in members:
        try:
            out[m.name] = m.hosts(service)
        except Exception as e:  # noqa: BLE001 - recorded, not raised
            out[m.name] = f"<{type(e).__name__}: {e}>"
    return out


def differences(view: Dict[str, object], held: Set[Endpoint]) -> Dict[str, str]:
    """What each member gets wrong against what the clients hold: missing, extra, unhealthy."""
    out = {}
    for name, hosts in view.items():
        if not isinstance(hosts, dict):
            out[name] = str(hosts)
            continue
        missing, extra = held - set(hosts), set(hosts) - held
        sick = {ep for ep, ok in hosts.items() if ep in held and not ok}
        if missing or extra or sick:
            out[name] = f"missing={sorted(missing)} extra={sorted(extra)} unhealthy={sorted(sick)}"
    return out


def wait_converged(members: Sequence[Member], service: str, held: Callable[[], Set[Endpoint]], timeout: float,
                   desc: str, context: Callable[[], str] = lambda: "") -> float:
    """Waits until every member lists exactly what the clients hold, all healthy; returns the
    seconds it took. The failure names what each member is missing or has in excess."""
    t0 = time.monotonic()
    wait_for(lambda: differences(views(members, service), held()), lambda d: not d,
             f"{desc}: every member lists exactly the {len(held())} instances the clients hold", timeout, context)
    return time.monotonic() - t0
