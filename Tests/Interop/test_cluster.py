"""Cluster mode (Distro replication) with three real `registrar serve` processes on loopback.

Every node runs `registrar serve --host 127.0.0.1 --port P --members <all three>
--cluster-secret S --replica-lease 3 --verify-interval 1`: SDKs use gRPC P+1000, peers talk on
P+1001 (processes, HTTP reads, SDK clients bound to members: cluster_support.py). Clients are
real: nacos-sdk-python 3.2.0 (`v2.nacos`), nacos-sdk-rust-binding-py and the `registrar` CLI as
an OS process. Reads go through those clients or each node's v1 HTTP API.

- one cluster shared by the module for the non-destructive tests (replication, pushes across
  nodes, compression counters, durable writes refused without --database);
- a fresh cluster per destructive test (SIGKILL of a member; a member restarted empty);
- start-up refusals (no --cluster-secret, a port that is not a member) as bare processes.

Latencies are printed (visible with `-s`), never asserted. Every wait is bounded; failure
messages carry the tail of every node's log.

Client quirks worked with (not server behaviour): `ClusterClients.on` makes nacos-sdk-python
start at the first member of its list (not a random one); after a reconnect it replays
registrations only from a 30 s timer, so the failover test triggers its redo itself.
"""
from __future__ import annotations

import asyncio
import signal
import time
from typing import List

import pytest

from cluster_support import (GROUP, SECRET, ClusterClients, Members, cluster_fixtures, comparable,
                             connected_grpc_port, http, line_with, pick_cluster_ports, redo_ready, sdk_persistent_register,
                             serve_once, wait_endpoints, wait_endpoints_on)
from interop_support import (GRPC_OFFSET, Recorder, async_wait_for_event, async_wait_until,
                             endpoints, py_list_param, py_register_param, py_subscribe_param,
                             rust_async_client, run_async, tcp_accepts, unique, wait_until)
from test_cli import Processes, start_register

LEASE = 3            # --replica-lease (s): a dead owner's clients vanish from peers after this
VERIFY = 1           # --verify-interval (s): digests that renew leases
READY_TIMEOUT = 15.0
CLUSTER = dict(extra=["--replica-lease", str(LEASE), "--verify-interval", str(VERIFY)],
               label="cluster", ready_timeout=READY_TIMEOUT)

# `cluster`: shared by the module; `fresh_cluster(tag)`: one of its own for a destructive test
cluster, fresh_cluster = cluster_fixtures("cluster-shared", "interop_dir", "sdk_dir", **CLUSTER)


def _async(fn):
    async def call():
        return fn()
    return call


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# --------------------------------------------------------------------------------------
# 1. an instance registered on node 1 is visible on nodes 2 and 3
# --------------------------------------------------------------------------------------

def test_register_on_node1_is_visible_on_every_node(cluster, sdk_dir):
    n1, n2, n3 = cluster.nodes
    svc = unique("cl-repl")
    ep = ("10.40.1.1", 8801)
    meta = {"version": "v1", "zone": "z1"}

    async def scenario():
        async with ClusterClients(sdk_dir) as pc:
            pub = await pc.on(n1)
            t0 = time.monotonic()
            assert await pub.register_instance(py_register_param(svc, *ep, weight=2.0, metadata=meta,
                                                                 cluster="c1"))
            t_returned = time.monotonic()
            seen = await wait_endpoints_on((n1, n2, n3), svc, [ep], cluster, "after the register on node 1",
                                           10.0, 0.005)
            print(f"\n[cluster] register on node1 returned after {_ms(t_returned - t0)}; visible "
                  + ", ".join(f"on {n.name.split('-')[-1]} {_ms(t - t_returned)}"
                              for n, t in zip((n1, n2, n3), seen))
                  + " after it returned")

            # identical on every node, exactly once
            views = {n.name: [comparable(h) for h in n.hosts(svc)] for n in (n1, n2, n3)}
            assert len(set(map(tuple, views.values()))) == 1 and len(views[n1.name]) == 1, \
                f"the instance differs between nodes: {views}\n{cluster.logs()}"
            h = n3.hosts(svc)[0]
            assert h["metadata"] == meta and h["clusterName"] == "c1" and h["ephemeral"] is True, h

            # real clients on the other nodes read it too
            reader2 = await pc.on(n2)
            got = await reader2.list_instances(py_list_param(svc, subscribe=False))
            assert endpoints(got) == [ep] and got[0].metadata == meta, \
                f"python SDK on node2 listed {got!r}\n{cluster.logs()}"
            rs3 = rust_async_client(Members([n3]))
            got = await async_wait_until(lambda: rs3.get_all_instances(svc, GROUP, subscribe=False),
                                         lambda hs: endpoints(hs) == [ep],
                                         "rust SDK on node3 lists the instance", context=cluster.ctx())
            assert got[0].metadata == meta and got[0].weight == pytest.approx(2.0), got[0]

            # and the deregistration travels the same way
            from v2.nacos import DeregisterInstanceParam
            t0 = time.monotonic()
            assert await pub.deregister_instance(DeregisterInstanceParam(
                service_name=svc, ip=ep[0], port=ep[1], cluster_name="c1"))
            gone = await wait_endpoints_on((n2, n3), svc, [], cluster, "after the deregister on node 1",
                                           10.0, 0.005)
            print(f"[cluster] deregister on node1: gone from node2 {_ms(gone[0] - t0)}, "
                  f"node3 {_ms(gone[1] - t0)}")

    run_async(scenario())


# --------------------------------------------------------------------------------------
# 2. a subscriber on node 3 is pushed changes made through nodes 1 and 2
# --------------------------------------------------------------------------------------

def test_subscriber_on_node3_is_pushed_changes_from_other_nodes(cluster, sdk_dir):
    n1, n2, n3 = cluster.nodes
    svc = unique("cl-push")
    ep_a, ep_b = ("10.40.2.1", 8802), ("10.40.2.2", 8803)
    rec = Recorder("node3 subscriber")

    async def scenario():
        from v2.nacos import DeregisterInstanceParam
        async with ClusterClients(sdk_dir) as pc:
            # update_cache_when_empty: otherwise the SDK drops the push with an empty list
            sub = await pc.on(n3, update_cache_when_empty=True)
            await sub.subscribe(py_subscribe_param(svc, rec.py_callback))
            pub1 = await pc.on(n1)
            pub2 = await pc.on(n2)

            start = len(rec.snapshot())
            t0 = time.monotonic()
            assert await pub1.register_instance(py_register_param(svc, *ep_a, metadata={"via": "node1"}))
            t_reg = time.monotonic()
            i = await async_wait_for_event(rec, lambda ev: ev == [ep_a], "push of node1's instance",
                                           start=start, context=cluster.ctx())
            t_push = time.monotonic()
            assert rec.raw[i][0].metadata == {"via": "node1"}
            print(f"\n[cluster] node1 register → node3 push: {_ms(t_push - t_reg)} after the register "
                  f"returned ({_ms(t_push - t0)} after it was sent)")

            assert await pub2.register_instance(py_register_param(svc, *ep_b))
            i = await async_wait_for_event(rec, lambda ev: ev == sorted([ep_a, ep_b]),
                                           "push with node1's and node2's instances", start=i + 1,
                                           context=cluster.ctx())

            t0 = time.monotonic()
            assert await pub1.deregister_instance(DeregisterInstanceParam(
                service_name=svc, ip=ep_a[0], port=ep_a[1]))
            i = await async_wait_for_event(rec, lambda ev: ev == [ep_b],
                                           "push without node1's instance after its deregister",
                                           start=i + 1, context=cluster.ctx())
            print(f"[cluster] node1 deregister → node3 push: {_ms(time.monotonic() - t0)}")

            # closing node2's connection withdraws its instance everywhere: pushed empty list
            t0 = time.monotonic()
            await pc.shutdown(pub2)
            await async_wait_for_event(rec, lambda ev: ev == [],
                                       "push of an empty list after node2's client closed",
                                       start=i + 1, context=cluster.ctx())
            print(f"[cluster] node2 client shutdown → node3 empty push: {_ms(time.monotonic() - t0)}")
            print(f"[cluster] node3 subscriber saw: {rec.snapshot()}")
            assert await sub.list_instances(py_list_param(svc)) == []

    run_async(scenario())


# --------------------------------------------------------------------------------------
# 5. replication bodies are compressed
# --------------------------------------------------------------------------------------

def test_replication_traffic_is_compressed(cluster, sdk_dir):
    n1, n2, n3 = cluster.nodes
    svc = unique("cl-zlib")
    count = 30
    eps = [(f"10.40.5.{k + 1}", 9000 + k) for k in range(count)]

    async def scenario():
        from v2.nacos import BatchRegisterInstanceParam
        before = n1.metrics()
        applied_before = {n.name: n.metrics()["distroDatumsApplied"] for n in (n2, n3)}
        async with ClusterClients(sdk_dir) as pc:
            pub = await pc.on(n1)
            params = [py_register_param(svc, ip, port, metadata={
                          "version": "2.14.1", "zone": "eu-west-1a", "team": "payments",
                          "commit": "3f9a2c1e7b", "idx": str(k)})
                      for k, (ip, port) in enumerate(eps)]
            assert await pub.batch_register_instances(BatchRegisterInstanceParam(
                service_name=svc, group_name=GROUP, instances=params))
            for n in (n2, n3):
                await asyncio.to_thread(wait_endpoints, n, svc, eps, cluster,
                                        f"({count} batch instances from node1)")
            after = wait_until(lambda: n1.metrics(),
                               lambda m: m["distroCompressedBytesSent"] > before["distroCompressedBytesSent"],
                               "node1 counts the compressed bytes it sent", context=cluster.ctx())
            await pc.shutdown(pub)   # withdraw the 30 instances from the shared cluster

        raw, comp = after["distroRawBytesSent"], after["distroCompressedBytesSent"]
        d_raw = raw - before["distroRawBytesSent"]
        d_comp = comp - before["distroCompressedBytesSent"]
        print(f"\n[cluster] node1 distro bytes for the {count}-instance batch: raw {d_raw}, compressed "
              f"{d_comp} (ratio {d_comp / max(d_raw, 1):.3f}); since start: raw {raw}, compressed {comp} "
              f"(ratio {comp / max(raw, 1):.3f})")
        assert raw > 0 and comp > 0, after
        assert comp < raw, f"compressed bytes not below raw bytes: {after}"
        assert d_raw > 0 and d_comp > 0 and d_comp < d_raw, \
            f"the batch's replication was not compressed: raw +{d_raw}, compressed +{d_comp}"
        for n in (n2, n3):
            m = n.metrics()
            assert m["distroDatumsApplied"] > applied_before[n.name], (n.name, m)
        for n in cluster.nodes:
            m = n.metrics()
            assert m["distroRejectedRequests"] == 0, \
                f"{n.name} rejected peer requests although every member shares the secret: {m}"

    run_async(scenario())


# --------------------------------------------------------------------------------------
# 6. durable writes are refused in cluster mode without --database (with it: test_cluster_durable.py)
# --------------------------------------------------------------------------------------

def test_persistent_writes_are_refused_in_cluster_mode_without_a_database(cluster, sdk_dir):
    n1, n2, _ = cluster.nodes
    svc = unique("cl-durable")
    ns = unique("clns")
    writes = [
        ("persistent instance", n1, "/nacos/v1/ns/instance",
         {"serviceName": svc, "ip": "10.40.6.1", "port": "8806", "ephemeral": "false"}),
        ("persistent instance", n2, "/nacos/v1/ns/instance",
         {"serviceName": svc, "ip": "10.40.6.2", "port": "8807", "ephemeral": "false"}),
        ("service", n1, "/nacos/v1/ns/service", {"serviceName": svc}),
        ("namespace", n2, "/nacos/v1/console/namespaces",
         {"customNamespaceId": ns, "namespaceName": ns}),
    ]
    for what, node, path, params in writes:
        status, body = http(node.port, "POST", path, params)
        print(f"\n[cluster] POST {path} ({what}) on {node.name}: {status} {body.strip()[:160]}")
        assert status == 400, f"{what} write on {node.name}: expected 400, got {status} {body!r}"
        assert "cluster mode without --database" in body, f"the refusal should name --database: {body!r}"
    for n in cluster.nodes:
        assert n.host_endpoints(svc) == [], f"a refused write left an instance on {n.name}"

    # the same write through the SDK (a persistent gRPC register) is refused too
    async def sdk_write():
        async with ClusterClients(sdk_dir) as pc:
            ok, outcome = await sdk_persistent_register(pc, n1, svc, "10.40.6.3", 8808)
            print(f"[cluster] SDK persistent register on node1 {outcome}")
            assert not ok, "the SDK's persistent register was accepted in cluster mode"
    run_async(sdk_write())
    for n in cluster.nodes:
        assert n.host_endpoints(svc) == [], f"the refused SDK write left an instance on {n.name}"


# --------------------------------------------------------------------------------------
# 3. kill -9 of node 1: its clients' replicas expire; a client that knows node 2 fails over
# --------------------------------------------------------------------------------------

def test_kill9_of_a_member_expires_its_clients_and_failover_reregisters(fresh_cluster, sdk_dir, workdir):
    cl = fresh_cluster("cl-kill")
    n1, n2, n3 = cl.nodes
    svc = unique("cl-kill")
    cli_only1, cli_both = ("10.40.3.1", 8831), ("10.40.3.2", 8832)
    py_only1, py_both = ("10.40.3.3", 8833), ("10.40.3.4", 8834)
    anchor = ("10.40.3.5", 8835)   # owned by node 3: must survive everything
    everyone = [cli_only1, cli_both, py_only1, py_both, anchor]
    survivors = [cli_both, py_both, anchor]

    async def scenario():
        with Processes(workdir) as procs:
            ctx = cl.ctx(procs.diagnostics)
            start_register(procs, "register-only-node1", n1.addr, svc, cli_only1)
            both_cli, _ = start_register(procs, "register-node1-node2", f"{n1.addr},{n2.addr}", svc, cli_both)
            start_register(procs, "register-node3", n3.addr, svc, anchor)
            async with ClusterClients(sdk_dir) as pc:
                only1 = await pc.on(n1)
                both = await pc.on(n1, n2)
                assert await only1.register_instance(py_register_param(svc, *py_only1))
                assert await both.register_instance(py_register_param(svc, *py_both))
                for n in (n2, n3):
                    await asyncio.to_thread(wait_endpoints, n, svc, everyone, cl, "before the kill")
                expired_before = {n.name: n.metrics()["distroReplicasExpired"] for n in (n2, n3)}

                t_kill = time.monotonic()
                rc = n1.crash()
                assert rc == -signal.SIGKILL, f"node1 exit status {rc}"

                # the SDK client that knows node 2 reconnects there by itself...
                await async_wait_until(_async(lambda: (connected_grpc_port(both), redo_ready(both))),
                                       lambda st: st == (n2.grpc_port, True),
                                       "the python SDK client (node1,node2) reconnected to node2",
                                       context=ctx)
                print(f"\n[cluster] python SDK client (node1,node2) on node2 "
                      f"{_ms(time.monotonic() - t_kill)} after the kill")
                # ...but nacos-sdk-python 3.2.0 replays its registrations only from a 30 s timer:
                # its redo service waits on a queue that only `start_redo_task()` feeds, and the
                # SDK never calls that. Call it, so the SDK's own redo path runs now.
                await both.grpc_client_proxy.redo_service.start_redo_task()

                # node 1's clients vanish once their lease runs out; the clients that also know
                # node 2 come back through node 2
                seen = await wait_endpoints_on(
                    (n2, n3), svc, survivors, cl, "(node1-only clients expired, the others back via node2)",
                    15.0, 0.02)
                print(f"\n[cluster] after kill -9 of node1: node2 lists the survivors only after "
                      f"{seen[0] - t_kill:.2f}s, node3 after {seen[1] - t_kill:.2f}s (lease {LEASE}s)")
                assert connected_grpc_port(both) == n2.grpc_port, \
                    f"the SDK client with node1,node2 is on {connected_grpc_port(both)}, not node2\n{ctx()}"
                assert both_cli.alive(), both_cli.diagnostics()
                for n in (n2, n3):
                    m = n.metrics()
                    print(f"[cluster] {n.name}: distroReplicasExpired "
                          f"{expired_before[n.name]} → {m['distroReplicasExpired']}")
                    assert m["distroReplicasExpired"] > expired_before[n.name], \
                        f"{n.name} counted no expired replica after node1 died: {m}\n{ctx()}"

                # and they stay: the re-registered instances are owned by node 2 now, not leftovers
                # of node 1 that the next lease expiry would take away
                deadline = time.monotonic() + LEASE + 1.0
                while time.monotonic() < deadline:
                    for n in (n2, n3):
                        eps = n.host_endpoints(svc)
                        assert eps == sorted(survivors), \
                            f"{n.name} changed to {eps} after converging\n{ctx()}"
                    await asyncio.sleep(0.25)
                reader = await pc.on(n3)
                got = await reader.list_instances(py_list_param(svc, subscribe=False))
                assert endpoints(got) == sorted(survivors), got

                # membership: node 1 turns DOWN on nodes 2 and 3
                def down_everywhere():
                    return {n.name: n.member_states().get(n1.addr) for n in (n2, n3)}
                wait_until(down_everywhere, lambda st: set(st.values()) == {"DOWN"},
                           "node1 DOWN in the member lists of nodes 2 and 3", timeout=15.0, context=ctx)
                print(f"[cluster] node1 DOWN on nodes 2 and 3 {time.monotonic() - t_kill:.2f}s after the kill; "
                      f"node2 sees {n2.member_states()}")

    run_async(scenario())


# --------------------------------------------------------------------------------------
# 4. node 1 restarted empty: it loads a snapshot before it is ready, then converges
# --------------------------------------------------------------------------------------

def test_restarted_member_loads_snapshot_and_converges(fresh_cluster, sdk_dir, workdir):
    cl = fresh_cluster("cl-restart")
    n1, n2, n3 = cl.nodes
    svc, svc2 = unique("cl-restart"), unique("cl-restart2")
    ep_a, ep_b, ep_c = ("10.40.4.1", 8841), ("10.40.4.2", 8842), ("10.40.4.3", 8843)
    ep_d = ("10.40.4.4", 8844)

    async def scenario():
        with Processes(workdir) as procs:
            ctx = cl.ctx(procs.diagnostics)
            reg_a, _ = start_register(procs, "register-node1", n1.addr, svc, ep_a)   # only knows node 1
            start_register(procs, "register-node2", n2.addr, svc, ep_b, "--meta", "owner=node2")
            start_register(procs, "register-node3", n3.addr, svc, ep_c, "--weight", "3")
            async with ClusterClients(sdk_dir) as pc:
                py2 = await pc.on(n2)
                assert await py2.register_instance(py_register_param(svc2, *ep_d, metadata={"lang": "python"}))
                for n in cl.nodes:
                    await asyncio.to_thread(wait_endpoints, n, svc, [ep_a, ep_b, ep_c], cl, "before the restart")
                    await asyncio.to_thread(wait_endpoints, n, svc2, [ep_d], cl, "before the restart")

                # crash node 1 and start it again on the same ports with an empty data dir
                rc = n1.crash()
                assert rc == -signal.SIGKILL, rc
                offset = n1.log_size()
                n1.data_dir = n1.workdir / f"{n1.name}-data-fresh"
                n1.data_dir.mkdir(parents=True, exist_ok=True)
                t0 = time.monotonic()
                await asyncio.to_thread(n1.restart, READY_TIMEOUT)   # same port, retried if not free yet
                t_ready = time.monotonic()

                # at its first "ready" it already has what nodes 2 and 3 own, because it loaded a
                # snapshot before reporting ready. Both are checked here but reported only after
                # the convergence check below, so a failure also says whether (and how fast) the
                # node caught up without the snapshot.
                problems: List[str] = []
                first = {s: n1.host_endpoints(s) for s in (svc, svc2)}
                print(f"\n[cluster] node1 restarted (fresh data dir) and ready in {t_ready - t0:.2f}s; "
                      f"readiness before that: {n1.seen_before_ready}; its lists at ready: {first}")
                if not ({ep_b, ep_c} <= set(first[svc]) and first[svc2] == [ep_d]):
                    problems.append(f"node1 reported ready without the peers' instances: {first} "
                                    f"(expected {ep_b} and {ep_c} in {svc}, [{ep_d}] in {svc2})")
                log = n1.log_since(offset)
                line = next((ln for ln in log.splitlines() if "loaded the cluster snapshot" in ln), None)
                if line is None:
                    problems.append("node1's log has no 'loaded the cluster snapshot' line; since the "
                                    "restart it says:\n" + "\n".join(
                                        ln for ln in log.splitlines() if " notice " in ln or " warning " in ln))
                else:
                    print(f"[cluster] node1: {line.split('[RegistrarServer] ')[-1]}")

                # converges: node 1's own CLI client reconnects and registers again; every node
                # lists the same instances with the same fields
                for n in cl.nodes:
                    await asyncio.to_thread(wait_endpoints, n, svc, [ep_a, ep_b, ep_c], cl,
                                            "after node1's restart", 15.0)
                    await asyncio.to_thread(wait_endpoints, n, svc2, [ep_d], cl, "after node1's restart")
                converged = time.monotonic() - t_ready
                print(f"[cluster] all three nodes agree {converged:.2f}s after node1 was ready")
                assert not problems, ("\n".join(problems) + f"\n(all three nodes agreed {converged:.2f}s "
                                      f"after node1 reported ready)\n--- node1 log since the restart ---\n"
                                      f"{log}\n{ctx()}")
                for s in (svc, svc2):
                    views = {n.name: sorted(comparable(h) for h in n.hosts(s)) for n in cl.nodes}
                    assert len({tuple(v) for v in views.values()}) == 1, f"{s} differs: {views}\n{ctx()}"
                assert reg_a.alive(), reg_a.diagnostics()

                # and it is a full member again everywhere
                wait_until(lambda: [n.member_states() for n in cl.nodes],
                           lambda views: all(set(v.values()) == {"UP"} and len(v) == 3 for v in views),
                           "every member UP in every node's member list", context=ctx)

                # its own reads serve a real client
                py1 = await pc.on(n1)
                got = await py1.list_instances(py_list_param(svc2, subscribe=False))
                assert endpoints(got) == [ep_d] and got[0].metadata == {"lang": "python"}, got

    run_async(scenario())


# --------------------------------------------------------------------------------------
# 7. start-up refusals
# --------------------------------------------------------------------------------------

def test_cluster_mode_without_secret_refuses_to_start(workdir):
    p1, p2, p3 = pick_cluster_ports(3)
    members = f"127.0.0.1:{p1},127.0.0.1:{p2},127.0.0.1:{p3}"
    res = serve_once(workdir, "--port", str(p1), "--data-dir", str(workdir / "d-nosecret"),
                      "--members", members)
    out = res.stdout + res.stderr
    print(f"\n[cluster] no --cluster-secret: rc={res.returncode}: {line_with(out, 'cluster-secret')}")
    assert res.returncode > 0, f"expected a clean non-zero exit, got {res.returncode}\n{out}"
    assert "cluster-secret" in out, f"the message should name --cluster-secret:\n{out}"
    assert not tcp_accepts(p1 + GRPC_OFFSET), "the refused node left its gRPC port listening"


def test_node_not_in_member_list_refuses_to_start(workdir):
    p1, p2, p3 = pick_cluster_ports(3)
    members = f"127.0.0.1:{p2},127.0.0.1:{p3}"
    res = serve_once(workdir, "--port", str(p1), "--data-dir", str(workdir / "d-notmember"),
                      "--members", members, "--cluster-secret", SECRET)
    out = res.stdout + res.stderr
    print(f"\n[cluster] port {p1} not in --members {members}: rc={res.returncode}: "
          f"{line_with(out, 'member list')}")
    assert res.returncode > 0, f"expected a clean non-zero exit, got {res.returncode}\n{out}"
    assert "not in the member list" in out, f"the message should say it is not a member:\n{out}"
