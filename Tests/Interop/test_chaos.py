"""Cluster chaos (issue 21, item 5): three members, each in a network namespace this test makes,
with nacos-sdk-python clients inside those namespaces, under partitions, packet loss and delay,
kill -9 loops, a full-cluster restart and a half-open client. After each fault a checker reads
every member's v1 instance list and compares it with what the clients hold.

Topology and helpers: chaos_support.py. Needs root (ip netns, tc); skipped with the reason
otherwise. Every wait is bounded; a failure carries every member's log tail.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Iterator, List, Set

import pytest

from chaos_clients import ClientProcess, endpoints
from chaos_support import (Cluster, Endpoint, Topology, can_make_namespaces, remove_stale, views, wait_converged,
                           wait_for)

_WHY_NOT = can_make_namespaces()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=f"chaos suite: {_WHY_NOT}")

CONVERGE = 10.0          # the bound for members to agree after a fault ends
RECONNECT = 10.0         # the bound for clients to be back on a live member
PARTITION = 30.0         # longer than the 20 s replica lease, so the majority expires the island's clients
STABLE = 8.0             # after converging, the view must hold this long (> one 5 s verify interval)


class Rig:
    """One test's cluster plus one client process per member (inside that member's namespace,
    its own member first in its server list, so a partition takes the clients with it)."""

    def __init__(self, topo: Topology, workdir: Path, service: str):
        self.topo, self.service = topo, service
        self.cluster = Cluster(topo, workdir).start()
        addrs = [m.addr for m in self.cluster.members]
        self.clients = [ClientProcess(workdir, f"client-{m.name}", m.ns, addrs[i:] + addrs[:i], service)
                        for i, m in enumerate(self.cluster.members)]
        self.extra: List[ClientProcess] = []

    def held(self) -> Set[Endpoint]:
        return set().union(*(c.held for c in self.clients + self.extra))

    def register(self, client: ClientProcess, eps: List[Endpoint]) -> None:
        for ep in eps:
            assert client.register(ep), f"{client.name} could not register {ep}\n{client.diagnostics()}"

    def context(self) -> str:
        return self.cluster.logs() + "\n" + "\n".join(c.diagnostics() for c in self.clients + self.extra)

    def converge(self, timeout: float, desc: str) -> float:
        return wait_converged(self.cluster.members, self.service, self.held, timeout, desc, self.context)

    def stays_converged(self, seconds: float, desc: str) -> None:
        """Nothing the clients hold disappears later (a late deletion, a lease expiring wrongly)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            wait_converged(self.cluster.members, self.service, self.held, 0.0, f"{desc} (still, later)",
                           self.context)
            time.sleep(0.5)

    def wait_reconnected(self, timeout: float) -> float:
        """Every client connection is on a running member and has re-registered (its redo ran)."""
        t0 = time.monotonic()
        live = {m.ip for m in self.cluster.members if m.running()}
        wait_for(lambda: [c.reconnected(live) for c in self.clients], all,
                 f"every client connection back on a live member {sorted(live)}", timeout, self.context)
        return time.monotonic() - t0

    def close(self) -> None:
        for c in self.clients + self.extra:
            c.cut()
        self.cluster.stop()


@pytest.fixture
def rig(workdir, request) -> Iterator[Rig]:
    """A fresh topology and cluster per test: no fault or datum leaks into the next test. The
    namespaces and bridge are deleted at the end, also after a failure."""
    remove_stale()
    topo = Topology()
    made = None
    try:
        topo.open()
        made = Rig(topo, workdir, f"chaos-{request.node.name[5:25]}-{topo.tag}")
        yield made
    finally:
        if made is not None:
            made.close()
        left = topo.close()
        assert not left, f"could not delete {left}"


def churn(rig: Rig, rng: random.Random, fresh: List[Endpoint]) -> None:
    """On every client: deregister one held instance (if any), register one from `fresh`."""
    for c in rig.clients:
        if c.held:
            c.deregister(rng.choice(sorted(c.held)))
        if fresh:
            c.register(fresh.pop())


def test_partition_of_one_member_heals_and_converges(rig):
    """A member and its clients cut off for 30 s (past the replica lease), with changes on both
    sides meanwhile: after the heal every member agrees with the clients within 10 s."""
    for i, c in enumerate(rig.clients):
        rig.register(c, endpoints(i, 3))
    rig.converge(CONVERGE, "before the partition")
    island = rig.cluster[2]
    rig.topo.partition(island.ns)
    t_cut = time.monotonic()
    churn(rig, random.Random(1), endpoints(50, 3))
    time.sleep(max(0.0, PARTITION - (time.monotonic() - t_cut)))
    rig.topo.heal(island.ns)
    took = rig.converge(CONVERGE, f"after healing {island.name}'s {PARTITION:.0f}s partition")
    print(f"\n[chaos] partition of {island.name} for {PARTITION:.0f}s: converged {took:.1f}s after the heal")
    rig.stays_converged(STABLE, "after the heal")


def test_loss_and_delay_on_one_link_still_converges(rig):
    """20 % loss each way (and 200 ms delay, where the kernel has netem) on one member's link while
    clients change things everywhere: sync (retries, verify) still brings every member to what the
    clients hold. Checked while the loss is still on."""
    for i, c in enumerate(rig.clients):
        rig.register(c, endpoints(i, 2))
    rig.converge(CONVERGE, "before the loss")
    lossy = rig.cluster[2]
    applied = rig.topo.lossy(lossy.ns, 0.20, 200)
    churn(rig, random.Random(2), endpoints(51, 6))
    churn(rig, random.Random(3), endpoints(52, 3))
    took = rig.converge(2 * CONVERGE, f"with {applied} on {lossy.name}'s link")
    print(f"\n[chaos] loss+delay on {lossy.name}: converged {took:.1f}s after the changes "
          f"({applied}; now: {rig.topo.faults(lossy.ns)})")
    rig.topo.heal(lossy.ns)
    rig.stays_converged(STABLE, "after removing the loss")


def test_kill9_loop_loses_no_live_instance(rig):
    """kill -9 one member five times (each in turn, restarted on its data dir) while clients
    register and deregister: once the clients are back on live members, no instance is lost."""
    rng = random.Random(4)
    for i, c in enumerate(rig.clients):
        rig.register(c, endpoints(i, 3))
    rig.converge(CONVERGE, "before the kills")
    fresh = endpoints(53, 20)
    for round_ in range(5):
        victim = rig.cluster[round_ % 3]
        victim.kill9()
        churn(rig, rng, fresh)
        victim.spawn()
        victim.wait_ready(30.0)
        print(f"\n[chaos] round {round_ + 1}: {victim.name} killed and back; clients hold {len(rig.held())}")
    t_back = rig.wait_reconnected(RECONNECT)
    took = rig.converge(CONVERGE, "after five kill -9 rounds")
    print(f"[chaos] kill loop: clients reconnected in {t_back:.1f}s, converged {took:.1f}s later")
    rig.stays_converged(STABLE, "after the kill loop")


def test_full_cluster_restart_brings_every_instance_back(rig):
    """Every member killed (-9) and started again in random order: every live instance is back
    on every member, and nothing is deleted for good later (Nacos #15857)."""
    rng = random.Random(5)
    for i, c in enumerate(rig.clients):
        rig.register(c, endpoints(i, 3))
    rig.converge(CONVERGE, "before the restart")
    for m in rig.cluster.members:
        m.kill9()
    order = rig.cluster.members[:]
    rng.shuffle(order)
    for m in order:
        m.spawn()
        time.sleep(rng.uniform(0.0, 1.5))
    for m in order:
        m.wait_ready(30.0)
    rig.cluster.wait_all_up(15.0)
    t_back = rig.wait_reconnected(RECONNECT)
    took = rig.converge(CONVERGE, f"after a full restart in the order {[m.name for m in order]}")
    print(f"\n[chaos] full restart ({[m.name for m in order]}): clients back in {t_back:.1f}s, "
          f"converged {took:.1f}s later")
    rig.stays_converged(STABLE, "after the full restart")


def test_half_open_client_is_removed_within_15s(rig, workdir):
    """A client whose packets vanish (its namespace drops everything it sends) sends no FIN:
    the members must notice on their own (keepalive) and remove its instance within 15 s,
    while every other client's instances stay."""
    for i, c in enumerate(rig.clients):
        rig.register(c, endpoints(i, 1))
    addrs = [m.addr for m in rig.cluster.members]
    ghost = ClientProcess(workdir, "client-half-open", rig.topo.client_ns, addrs, rig.service)
    rig.extra.append(ghost)
    rig.register(ghost, endpoints(60, 1))
    rig.converge(CONVERGE, "before the half-open cut")
    rig.topo.partition(rig.topo.client_ns)
    t_cut = time.monotonic()
    ghost.held.clear()     # from now on the clients only hold the others
    took = rig.converge(15.0, "after the half-open cut")
    print(f"\n[chaos] half-open client removed everywhere {took:.1f}s after its packets stopped "
          f"(views: {views(rig.cluster.members, rig.service)})")
    assert time.monotonic() - t_cut <= 15.5
