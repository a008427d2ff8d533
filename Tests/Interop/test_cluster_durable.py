"""Cluster durability: three real `registrar serve` members sharing one real PostgreSQL.

Each test makes its own database in the throwaway PostgreSQL that scripts/test starts
(`REGISTRAR_TEST_DATABASE`, a superuser URL; `REGISTRAR_TEST_PG_CTL` stops and starts it) and
its own cluster, every member started with `REGISTRAR_DATABASE` set to that database.

- namespaces, service metadata, cluster health checks and persistent instances (v1 HTTP and
  nacos-sdk-python 3.x `ephemeral=False`) written on one member are read on the other two;
- a subscriber on member 3 is pushed a persistent instance registered on member 1;
- a member killed with -9 and restarted with an empty data dir answers with everything at once;
- with PostgreSQL stopped, durable writes fail with a clear 503 while ephemeral ones work, and
  readiness says so; once it is back, durable writes work again and the members converge;
- exactly one member probes a persistent instance, and another takes over when it dies;
- a user created on one member logs in on another, and is refused there once deleted;
- `registrar db migrate`, and `registrar db import` of a single node's data into a cluster.

Visibility latencies are printed (`-s`), never asserted: the bench measures them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from typing import List, Optional, Tuple

import pytest

from cluster_support import READINESS, Cluster, ClusterClients, ClusterNode, http, sdk_persistent_register
from interop_support import (LoopbackListener, Recorder, RegistrarServer, async_wait_for_event,
                             py_register_param, py_subscribe_param, resolve_binary, run_async, unique,
                             wait_until)

ADMIN_URL = os.environ.get("REGISTRAR_TEST_DATABASE")
PG_CTL = os.environ.get("REGISTRAR_TEST_PG_CTL")
# Probes every 0.5 s, so flips and take-overs happen within a few seconds.
EXTRA = ["--replica-lease", "3", "--verify-interval", "1", "--health-check-interval", "0.5"]

if not ADMIN_URL:
    if os.environ.get("CI"):
        raise RuntimeError("REGISTRAR_TEST_DATABASE is not set: run the tests through scripts/test")
    pytest.skip("no test PostgreSQL (run through scripts/test)", allow_module_level=True)


def create_database() -> str:
    """A new, empty database; its URL."""
    name = "i_" + uuid.uuid4().hex
    subprocess.run(["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qAtc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=30)
    parts = urllib.parse.urlsplit(ADMIN_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def durable_cluster(workdir, tag: str, size: int = 3) -> Cluster:
    return Cluster(workdir, tag, extra=EXTRA, size=size, label="durable",
                   env={"REGISTRAR_DATABASE": create_database()}).start()


@pytest.fixture
def fresh(workdir):
    clusters: List[Cluster] = []

    def make(tag: str, **kw) -> Cluster:
        c = durable_cluster(workdir, unique(tag), **kw)
        clusters.append(c)
        return c
    yield make
    for c in clusters:
        c.stop()


class ProbeTarget(LoopbackListener):
    """A loopback port that accepts (so a TCP probe finds it healthy) until closed."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port=port, name="probe-target")

    @property
    def ep(self) -> Tuple[str, int]:
        return ("127.0.0.1", self.port)


def get_json(node: ClusterNode, path: str, params: Optional[dict] = None):
    status, body = http(node.port, "GET", path, params, token=getattr(node, "token", None))
    if status != 200:
        raise AssertionError(f"GET {path} on {node.name}: {status} {body[:200]}")
    return json.loads(body)


def hosts(node: ClusterNode, service: str) -> dict:
    listed = get_json(node, "/nacos/v1/ns/instance/list", {"serviceName": service, "healthyOnly": "false"})
    return {(h["ip"], h["port"]): h for h in listed["hosts"]}


def durable_view(node: ClusterNode, service: str, namespace: str) -> dict:
    """What a member serves of the durable data these tests write."""
    detail = get_json(node, "/nacos/v1/ns/service", {"serviceName": service})
    namespaces = {n["namespace"] for n in get_json(node, "/nacos/v1/console/namespaces")["data"]}
    checks = {c["name"]: c.get("healthChecker", {}).get("type") for c in detail.get("clusters", [])}
    return {"namespace": namespace in namespaces, "threshold": detail["protectThreshold"],
            "metadata": detail["metadata"], "checks": checks,
            "instances": sorted(hosts(node, service))}


def post(node: RegistrarServer, path: str, params: dict, method: str = "POST") -> None:
    status, body = http(node.port, method, path, params)
    assert status == 200, f"{method} {path} on {node.name}: {status} {body[:300]}"


def write_durable_data(node: RegistrarServer, service: str, namespace: str, ep: Tuple[str, int]) -> None:
    post(node, "/nacos/v1/console/namespaces", {"customNamespaceId": namespace, "namespaceName": namespace})
    post(node, "/nacos/v1/ns/service", {"serviceName": service, "protectThreshold": "0.4", "ephemeral": "false",
                                        "metadata": "team=pay"})
    post(node, "/nacos/v1/ns/cluster", {"serviceName": service, "clusterName": "DEFAULT",
                                        "healthChecker": json.dumps({"type": "NONE"})}, method="PUT")
    post(node, "/nacos/v1/ns/instance", {"serviceName": service, "ip": ep[0], "port": str(ep[1]),
                                         "ephemeral": "false"})


# --------------------------------------------------------------------------------------
# 1. written on one member, served by every member
# --------------------------------------------------------------------------------------

def test_durable_writes_on_one_member_are_served_by_the_others(fresh, sdk_dir):
    cluster = fresh("dur-visible")
    n1, n2, n3 = cluster.nodes
    svc, ns = unique("dur-svc"), unique("durns")
    v1_ep, sdk_ep = ("10.50.0.1", 7001), ("10.50.0.2", 7002)   # cluster check NONE: never probed
    t0 = time.monotonic()
    write_durable_data(n1, svc, ns, v1_ep)
    expected = {"namespace": True, "threshold": 0.4, "metadata": {"team": "pay"},
                "checks": {"DEFAULT": "NONE"}, "instances": [v1_ep]}
    for n in (n2, n3):
        wait_until(lambda n=n: durable_view(n, svc, ns), lambda v: v == expected,
                   f"{n.name} serves what node1 wrote", timeout=10, context=cluster.ctx())
    print(f"\n[durable] node1's writes served by node2 and node3 after {time.monotonic() - t0:.3f}s")

    async def scenario():
        async with ClusterClients(sdk_dir) as pc:
            client = await pc.on(n2)
            assert await client.register_instance(py_register_param(svc, *sdk_ep, ephemeral=False)) is True
    run_async(scenario())
    for n in cluster.nodes:
        wait_until(lambda n=n: sorted(hosts(n, svc)), lambda eps: eps == sorted([v1_ep, sdk_ep]),
                   f"{n.name} lists the SDK's persistent instance", timeout=10, context=cluster.ctx())
        assert hosts(n, svc)[sdk_ep]["ephemeral"] is False


# --------------------------------------------------------------------------------------
# 2. a subscriber on member 3 is pushed a persistent instance registered on member 1
# --------------------------------------------------------------------------------------

def test_a_subscriber_on_member_3_is_pushed_a_persistent_instance_from_member_1(fresh, sdk_dir):
    cluster = fresh("dur-push")
    n1, _, n3 = cluster.nodes
    svc = unique("dur-push")
    rec = Recorder("node3 subscriber")
    with ProbeTarget() as target:
        async def scenario():
            async with ClusterClients(sdk_dir) as pc:
                sub = await pc.on(n3, update_cache_when_empty=True)
                await sub.subscribe(py_subscribe_param(svc, rec.py_callback))
                pub = await pc.on(n1)
                start = len(rec.snapshot())
                t0 = time.monotonic()
                assert await pub.register_instance(py_register_param(svc, *target.ep, ephemeral=False)) is True
                await async_wait_for_event(rec, lambda ev: ev == [target.ep], "push of node1's persistent instance",
                                           start=start, context=cluster.ctx())
                print(f"\n[durable] node1 persistent register → node3 push: {time.monotonic() - t0:.3f}s")
        run_async(scenario())


# --------------------------------------------------------------------------------------
# 3. kill -9 a member; restarted with an empty data dir it serves everything at once
# --------------------------------------------------------------------------------------

def test_a_member_killed_and_restarted_empty_serves_everything_in_its_first_ready_answer(fresh):
    cluster = fresh("dur-kill")
    n1, n2, n3 = cluster.nodes
    svc, ns = unique("dur-kill"), unique("durkill")
    write_durable_data(n1, svc, ns, ("10.50.1.1", 7101))
    more = [("10.50.1.2", 7102 + i) for i in range(20)]
    for ep in more:
        post(n3, "/nacos/v1/ns/instance", {"serviceName": svc, "ip": ep[0], "port": str(ep[1]),
                                           "ephemeral": "false"})
    expected = {"namespace": True, "threshold": 0.4, "metadata": {"team": "pay"},
                "checks": {"DEFAULT": "NONE"}, "instances": sorted([("10.50.1.1", 7101)] + more)}
    assert n2.crash() == -9
    for n in (n1, n3):
        wait_until(lambda n=n: durable_view(n, svc, ns), lambda v: v == expected,
                   f"{n.name} serves everything with node2 dead", timeout=10, context=cluster.ctx())
    shutil.rmtree(n2.data_dir)
    n2.data_dir.mkdir()
    n2._spawn("restart with an empty data dir: ")
    n2.wait_ready()
    # the first ready answer already has it all: the state is loaded before readiness says OK
    assert durable_view(n2, svc, ns) == expected


# --------------------------------------------------------------------------------------
# 4. PostgreSQL down: durable writes fail clearly, ephemeral ones work; back: converge
# --------------------------------------------------------------------------------------

@pytest.mark.skipif(not PG_CTL, reason="REGISTRAR_TEST_PG_CTL not set")
def test_with_postgres_stopped_durable_writes_fail_clearly_and_work_again_once_it_returns(fresh, sdk_dir):
    cluster = fresh("dur-pgdown")
    n1, n2, n3 = cluster.nodes
    svc, ephemeral_svc = unique("dur-down"), unique("dur-down-eph")
    post(n1, "/nacos/v1/ns/instance", {"serviceName": svc, "ip": "10.50.2.1", "port": "7201",
                                       "ephemeral": "false"})
    subprocess.run([PG_CTL, "stop"], check=True, timeout=60)
    try:
        t0 = time.monotonic()
        status, body = http(n2.port, "POST", "/nacos/v1/ns/instance",
                            {"serviceName": svc, "ip": "10.50.2.2", "port": "7202", "ephemeral": "false"},
                            timeout=15)
        took = time.monotonic() - t0
        print(f"\n[durable] durable write with PostgreSQL stopped: {status} after {took:.2f}s: {body[:160]}")
        assert status == 503, f"expected 503, got {status} {body!r}"
        assert "not stored" in body and "database" in body, body

        # over gRPC the SDK gets an error response, not a success
        async def sdk_write():
            async with ClusterClients(sdk_dir) as pc:
                ok, outcome = await sdk_persistent_register(pc, n1, svc, "10.50.2.5", 7205)
                print(f"[durable] SDK persistent register with PostgreSQL stopped {outcome}")
                assert not ok and "503" in outcome, outcome
        run_async(sdk_write())
        # ephemeral data keeps working, and durable data is still read from memory
        post(n2, "/nacos/v1/ns/instance", {"serviceName": ephemeral_svc, "ip": "10.50.2.3", "port": "7203"})
        for n in cluster.nodes:
            wait_until(lambda n=n: (sorted(hosts(n, svc)), sorted(hosts(n, ephemeral_svc))),
                       lambda seen: seen == ([("10.50.2.1", 7201)], [("10.50.2.3", 7203)]),
                       f"{n.name} serves the stored and the new ephemeral instance", timeout=10,
                       context=cluster.ctx())
        for n in cluster.nodes:
            wait_until(lambda n=n: http(n.port, "GET", READINESS), lambda r: r[0] == 503 and "database" in r[1],
                       f"{n.name}'s readiness reports the database down", timeout=10, context=cluster.ctx())
    finally:
        subprocess.run([PG_CTL, "start"], check=True, timeout=60)
    t0 = time.monotonic()

    def durable_write():
        return http(n3.port, "POST", "/nacos/v1/ns/instance",
                    {"serviceName": svc, "ip": "10.50.2.4", "port": "7204", "ephemeral": "false"})
    wait_until(durable_write, lambda r: r[0] == 200, "a durable write succeeds once PostgreSQL is back",
               timeout=10, interval=0.5, context=cluster.ctx())
    print(f"\n[durable] first durable write after PostgreSQL came back: {time.monotonic() - t0:.2f}s")
    expected = [("10.50.2.1", 7201), ("10.50.2.4", 7204)]
    for n in cluster.nodes:
        wait_until(lambda n=n: sorted(hosts(n, svc)), lambda eps: eps == expected,
                   f"{n.name} converges", timeout=10, context=cluster.ctx())
        wait_until(lambda n=n: http(n.port, "GET", READINESS), lambda r: r == (200, "OK"),
                   f"{n.name}'s readiness is OK again", timeout=10, context=cluster.ctx())


# --------------------------------------------------------------------------------------
# 5. one member probes each persistent instance; another takes over when it dies
# --------------------------------------------------------------------------------------

def probes(nodes: List[ClusterNode]) -> List[int]:
    return [n.metrics()["healthProbes"] for n in nodes]


def test_exactly_one_member_probes_a_persistent_instance_and_another_takes_over(fresh):
    cluster = fresh("dur-probe")
    svc = unique("dur-probe")
    with ProbeTarget() as target:
        ep = target.ep
        post(cluster[0], "/nacos/v1/ns/instance", {"serviceName": svc, "ip": ep[0], "port": str(ep[1]),
                                                   "ephemeral": "false"})
        before = probes(cluster.nodes)
        # a few rounds (0.5 s each) of probes, counted by each member's metrics
        wait_until(lambda: [a - b for a, b in zip(probes(cluster.nodes), before)], lambda d: max(d) >= 4,
                   "a member probes the instance", timeout=10, context=cluster.ctx())
        counted = [a - b for a, b in zip(probes(cluster.nodes), before)]
    probers = [n for n, d in zip(cluster.nodes, counted) if d > 0]
    assert len(probers) == 1, f"probes per member: {counted}"
    prober = probers[0]
    print(f"\n[durable] {prober.name} probes {ep[0]}:{ep[1]}; probes per member: {counted}")
    # the port is closed now: the prober flips it, and every member serves the flip
    for n in cluster.nodes:
        wait_until(lambda n=n: hosts(n, svc)[ep]["healthy"], lambda healthy: healthy is False,
                   f"{n.name} serves the instance as unhealthy", timeout=15, context=cluster.ctx())

    assert prober.crash() == -9
    survivors = [n for n in cluster.nodes if n is not prober]
    with ProbeTarget(port=ep[1]):   # the instance answers again: the new prober flips it back
        for n in survivors:
            wait_until(lambda n=n: hosts(n, svc)[ep]["healthy"], lambda healthy: healthy is True,
                       f"{n.name} serves the instance as healthy again", timeout=20, context=cluster.ctx())
        before = probes(survivors)
        wait_until(lambda: [a - b for a, b in zip(probes(survivors), before)], lambda d: max(d) >= 4,
                   "a survivor probes the instance", timeout=10, context=cluster.ctx())
        counted = [a - b for a, b in zip(probes(survivors), before)]
    assert sum(1 for d in counted if d > 0) == 1, f"probes per surviving member: {counted}"


# --------------------------------------------------------------------------------------
# 6. users are shared: one created on member 1 logs in on member 3
# --------------------------------------------------------------------------------------

def test_a_user_created_on_one_member_logs_in_on_another(workdir):
    import base64
    password = "cluster-admin-" + uuid.uuid4().hex[:8]
    cluster = Cluster(workdir, unique("dur-users"), extra=EXTRA + [
        "--token-secret", base64.b64encode(os.urandom(32)).decode()], label="durable",
        env={"REGISTRAR_DATABASE": create_database(), "REGISTRAR_ADMIN_PASSWORD": password},
        admin_password=password).start()
    try:
        n1, n2, n3 = cluster.nodes
        status, body = http(n1.port, "POST", "/nacos/v1/auth/users",
                            {"username": "ann", "password": "ann-password-1"}, token=n1.token)
        assert status == 200, f"creating a user on node1: {status} {body}"
        for n in (n2, n3):
            wait_until(lambda n=n: http(n.port, "POST", "/nacos/v1/auth/login",
                                        {"username": "ann", "password": "ann-password-1"})[0],
                       lambda s: s == 200, f"ann logs in on {n.name}", timeout=10, context=cluster.ctx())
        status, body = http(n2.port, "DELETE", "/nacos/v1/auth/users", {"username": "ann"}, token=n2.token)
        assert status == 200, f"deleting the user on node2: {status} {body}"
        wait_until(lambda: http(n1.port, "POST", "/nacos/v1/auth/login",
                                {"username": "ann", "password": "ann-password-1"})[0],
                   lambda s: s == 403, "ann is refused on node1 once deleted on node2", timeout=10,
                   context=cluster.ctx())
    finally:
        cluster.stop()


# --------------------------------------------------------------------------------------
# 7. operations: `registrar db migrate`, and a single node grown into a cluster with `db import`
# --------------------------------------------------------------------------------------

def registrar_db(*args: str, database: str) -> subprocess.CompletedProcess:
    env = {**RegistrarServer.clean_environment(), "REGISTRAR_DATABASE": database}
    return subprocess.run([str(resolve_binary()), "db", *args], env=env, capture_output=True, text=True, timeout=60)


def test_db_migrate_applies_the_schema_once():
    database = create_database()
    first = registrar_db("migrate", database=database)
    assert first.returncode == 0 and "migrated from version 0 to 1" in first.stdout, first
    again = registrar_db("migrate", database=database)
    assert again.returncode == 0 and "already at version 1" in again.stdout, again


def test_a_single_nodes_data_imported_into_postgres_is_served_by_a_cluster(workdir, fresh):
    import base64
    single = RegistrarServer(workdir, name="single").start()
    svc, ns = unique("dur-import"), unique("durimp")
    password = "import-admin-" + uuid.uuid4().hex[:8]
    try:
        write_durable_data(single, svc, ns, ("10.50.3.1", 7301))
        status, body = http(single.port, "POST", "/nacos/v3/auth/user/admin", {"password": password})
        assert status == 200, f"setting the admin password: {status} {body}"
    finally:
        single.stop()
    database = create_database()
    imported = registrar_db("import", "--from", str(single.data_dir), database=database)
    assert imported.returncode == 0, imported
    assert "1 namespace(s), 1 service(s), 1 cluster check(s), 1 persistent instance(s) and 1 user(s)" \
        in imported.stdout, imported.stdout
    twice = registrar_db("import", "--from", str(single.data_dir), database=database)
    assert twice.returncode == 1 and "already holds durable data" in twice.stderr, twice

    # the admin logs in on the cluster (the user came along), and every member serves the data
    cluster = Cluster(workdir, unique("dur-imported"), extra=EXTRA + [
        "--token-secret", base64.b64encode(os.urandom(32)).decode()], label="durable",
        env={"REGISTRAR_DATABASE": database}, admin_password=password).start()
    try:
        expected = {"namespace": True, "threshold": 0.4, "metadata": {"team": "pay"},
                    "checks": {"DEFAULT": "NONE"}, "instances": [("10.50.3.1", 7301)]}
        for n in cluster.nodes:
            assert durable_view(n, svc, ns) == expected, n.name
    finally:
        cluster.stop()
