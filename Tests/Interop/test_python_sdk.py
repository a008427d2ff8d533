"""nacos-sdk-python 3.x (`v2.nacos`, asyncio + grpcio) against Registrar.

Each NacosNamingService object is its own gRPC connection (the SDK sets
grpc.use_local_subchannel_pool=1), i.e. its own Nacos "client" on the server.
"""
from __future__ import annotations

import asyncio

import pytest

from interop_support import (PY_REGISTER_SCRIPT, ChildProcess, PyClients, Recorder,
                             async_wait_for_event, async_wait_until, endpoints,
                             py_list_param, py_register_param, py_subscribe_param, run_async,
                             unique)


def _ctx(server):
    # the full server log tail is attached to every failure report by conftest.py
    return lambda: f"server: {server.describe()}"


def test_py_register_then_list_from_second_client(server, sdk_dir):
    svc = unique("py-reg")
    ip, port = "10.0.0.11", 8081

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a = await pc.new()
            b = await pc.new()
            ok = await a.register_instance(py_register_param(
                svc, ip, port, weight=2.5, metadata={"version": "v1", "zone": "z1"},
                cluster="c1"))
            assert ok is True, "register_instance returned False (errorCode != 0)"

            hosts = await async_wait_until(
                lambda: b.list_instances(py_list_param(svc)),
                lambda hs: endpoints(hs) == [(ip, port)],
                f"client B list_instances({svc}) == [{ip}:{port}]", context=_ctx(server))
            h = hosts[0]
            assert h.weight == pytest.approx(2.5)
            assert h.metadata == {"version": "v1", "zone": "z1"}
            assert h.clusterName == "c1"
            assert h.healthy is True and h.enabled is True and h.ephemeral is True
            assert h.serviceName == f"DEFAULT_GROUP@@{svc}", "host serviceName must be grouped"
            assert h.instanceId == f"{ip}#{port}#c1#DEFAULT_GROUP@@{svc}", \
                "instanceId should follow Nacos' simple generator ip#port#cluster#group@@service"

            # the registering client itself sees the same thing
            own = await async_wait_until(lambda: a.list_instances(py_list_param(svc)),
                                         lambda hs: endpoints(hs) == [(ip, port)],
                                         "client A sees its own instance", context=_ctx(server))
            assert own[0].metadata == {"version": "v1", "zone": "z1"}

    run_async(scenario())


def test_py_subscribe_receives_register_and_deregister_pushes(server, sdk_dir):
    svc = unique("py-sub")
    ip, port = "10.0.0.21", 8080
    rec = Recorder("B.subscribe callback")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a = await pc.new()
            # update_cache_when_empty=True: otherwise the SDK silently drops the push that
            # carries the empty host list, and the removal could never be observed.
            b = await pc.new(update_cache_when_empty=True)
            await b.subscribe(py_subscribe_param(svc, rec.py_callback))
            start = len(rec.snapshot())  # the subscribe response itself may fire [] here
            assert all(ev == [] for ev in rec.snapshot()), \
                f"fresh service must have no instances, got {rec.snapshot()}"

            assert await a.register_instance(py_register_param(svc, ip, port,
                                                               metadata={"k": "v"}))
            i = await async_wait_for_event(rec, lambda ev: ev == [(ip, port)],
                                           "push carrying A's instance", start=start,
                                           context=_ctx(server))
            pushed = rec.raw[i][0]
            assert pushed.metadata == {"k": "v"}
            assert pushed.serviceName == f"DEFAULT_GROUP@@{svc}"

            from v2.nacos import DeregisterInstanceParam
            assert await a.deregister_instance(DeregisterInstanceParam(
                service_name=svc, ip=ip, port=port))
            await async_wait_for_event(rec, lambda ev: ev == [], "push with A's instance removed",
                                       start=i + 1, context=_ctx(server))
            # B's cache was updated by the push
            assert await b.list_instances(py_list_param(svc)) == []

    run_async(scenario())


def test_py_subscriber_with_default_config_sees_partial_removal(server, sdk_dir):
    """Default SDK config (update_cache_when_empty=False): pushes with a non-empty host
    list must flow; two publishers on two connections merge into one service."""
    svc = unique("py-two")
    rec = Recorder("C.subscribe callback")
    ep_a, ep_b = ("10.0.0.31", 9001), ("10.0.0.32", 9002)

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a, b, c = await pc.new(), await pc.new(), await pc.new()
            await c.subscribe(py_subscribe_param(svc, rec.py_callback))
            assert await a.register_instance(py_register_param(svc, *ep_a))
            assert await b.register_instance(py_register_param(svc, *ep_b))
            i = await async_wait_for_event(rec, lambda ev: ev == sorted([ep_a, ep_b]),
                                           "push with both A's and B's instances",
                                           context=_ctx(server))
            await pc.shutdown(a)   # closing the connection must drop A's instance
            await async_wait_for_event(rec, lambda ev: ev == [ep_b],
                                       "push after A's connection closed", start=i + 1,
                                       context=_ctx(server))

    run_async(scenario())


def test_py_batch_register_visible_from_other_client(server, sdk_dir):
    svc = unique("py-batch")
    group = unique("G")
    eps = [("10.0.1.1", 80), ("10.0.1.2", 81), ("10.0.1.3", 82)]

    async def scenario():
        from v2.nacos import BatchRegisterInstanceParam
        async with PyClients(server, sdk_dir) as pc:
            a, b = await pc.new(), await pc.new()
            params = [py_register_param(svc, ip, port, group=group,
                                        metadata={"idx": str(n)})
                      for n, (ip, port) in enumerate(eps)]
            ok = await a.batch_register_instances(BatchRegisterInstanceParam(
                service_name=svc, group_name=group, instances=params))
            assert ok is True

            hosts = await async_wait_until(
                lambda: b.list_instances(py_list_param(svc, group=group)),
                lambda hs: endpoints(hs) == sorted(eps),
                f"client B sees all {len(eps)} batch instances", context=_ctx(server))
            by_ep = {(h.ip, h.port): h for h in hosts}
            for n, ep in enumerate(eps):
                h = by_ep[ep]
                assert h.metadata == {"idx": str(n)}
                # the SDK sends clusterName "" in batches; the server stores DEFAULT
                assert h.clusterName == "DEFAULT"
                assert h.serviceName == f"{group}@@{svc}"

            # batch deregister = another batchRegisterInstance with the remaining ones
            ok = await a.batch_deregister_instances(BatchRegisterInstanceParam(
                service_name=svc, group_name=group, instances=[params[0]]))
            assert ok is True
            await async_wait_until(
                lambda: b.list_instances(py_list_param(svc, group=group)),
                lambda hs: endpoints(hs) == sorted(eps[1:]),
                "client B sees the batch shrink to 2 (push after batch deregister)",
                context=_ctx(server))

    run_async(scenario())


def test_py_list_services(server, sdk_dir):
    group = unique("LG")
    s1, s2, s3 = unique("py-ls-a"), unique("py-ls-b"), unique("py-ls-default")

    async def scenario():
        from v2.nacos import ListServiceParam
        async with PyClients(server, sdk_dir) as pc:
            a, b = await pc.new(), await pc.new()
            # one connection may publish one instance in each of several services
            assert await a.register_instance(py_register_param(s1, "10.0.2.1", 1, group=group))
            assert await a.register_instance(py_register_param(s2, "10.0.2.2", 2, group=group))
            assert await a.register_instance(py_register_param(s3, "10.0.2.3", 3))

            # NB: the SDK sends namespace "" for ServiceListRequest; "" must mean "public"
            res = await async_wait_until(
                lambda: b.list_services(ListServiceParam(group_name=group, page_no=1,
                                                         page_size=100)),
                lambda r: sorted(r.services) == sorted([s1, s2]),
                f"list_services(group={group}) == [{s1}, {s2}]", context=_ctx(server))
            assert res.count == 2

            res = await async_wait_until(
                lambda: b.list_services(ListServiceParam(page_no=1, page_size=1000)),
                lambda r: s3 in r.services,
                f"list_services(DEFAULT_GROUP) contains {s3}", context=_ctx(server))
            assert s1 not in res.services and s2 not in res.services
            assert all("@@" not in name for name in res.services), \
                "service names in ServiceListResponse must be bare (no group@@ prefix)"

    run_async(scenario())


def test_py_second_register_on_same_connection_replaces_first(server, sdk_dir):
    """Nacos 2.x keeps ONE published instance per (connection, service): a second
    registerInstance from the same client replaces the first."""
    svc = unique("py-replace")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a, b = await pc.new(), await pc.new()
            assert await a.register_instance(py_register_param(svc, "10.0.3.1", 7001))
            await async_wait_until(lambda: b.list_instances(py_list_param(svc)),
                                   lambda hs: endpoints(hs) == [("10.0.3.1", 7001)],
                                   "first instance visible", context=_ctx(server))
            assert await a.register_instance(py_register_param(svc, "10.0.3.2", 7002))
            await async_wait_until(lambda: b.list_instances(py_list_param(svc)),
                                   lambda hs: endpoints(hs) == [("10.0.3.2", 7002)],
                                   "second register replaced the first", context=_ctx(server))

    run_async(scenario())


def test_py_namespace_isolation(server, sdk_dir):
    svc = unique("py-ns")
    ns = unique("ns")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a = await pc.new(namespace=ns)
            b_same = await pc.new(namespace=ns)
            c_public = await pc.new()
            assert await a.register_instance(py_register_param(svc, "10.0.4.1", 4001))
            await async_wait_until(lambda: b_same.list_instances(py_list_param(svc)),
                                   lambda hs: endpoints(hs) == [("10.0.4.1", 4001)],
                                   f"instance visible in namespace {ns}", context=_ctx(server))
            assert await c_public.list_instances(py_list_param(svc)) == [], \
                "an instance registered in another namespace leaked into public"

    run_async(scenario())


def test_py_client_shutdown_removes_its_instances(server, sdk_dir):
    svc = unique("py-shutdown")
    ep = ("10.0.5.1", 5001)
    rec = Recorder("B.subscribe callback")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            a = await pc.new()
            b = await pc.new(update_cache_when_empty=True)
            assert await a.register_instance(py_register_param(svc, *ep))
            await b.subscribe(py_subscribe_param(svc, rec.py_callback))
            i = await async_wait_for_event(rec, lambda ev: ev == [ep], "A's instance seen",
                                           context=_ctx(server))
            # shutdown() sends no deregister: it only closes the channel
            await pc.shutdown(a)
            await async_wait_for_event(rec, lambda ev: ev == [], "removal pushed after A shut down",
                                       start=i + 1, context=_ctx(server))
            fresh = await pc.new()
            assert await fresh.list_instances(py_list_param(svc)) == []

    run_async(scenario())


@pytest.mark.parametrize("mode", ["os_exit", "sigkill"])
def test_py_process_exit_removes_instance(server, sdk_dir, workdir, mode):
    svc = unique(f"py-exit-{mode.replace('_', '')}")
    ip, port = "10.0.6.1", 6001
    rec = Recorder("B.subscribe callback")
    child = ChildProcess(PY_REGISTER_SCRIPT,
                         [server.addr, svc, ip, str(port), str(workdir), mode],
                         workdir, name=f"py-child-{mode}")

    def ctx():
        return f"{child.diagnostics()}\nserver: {server.describe()}"

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            b = await pc.new(update_cache_when_empty=True)
            await b.subscribe(py_subscribe_param(svc, rec.py_callback))
            await asyncio.to_thread(child.wait_for_line, "registered", 15.0)
            i = await async_wait_for_event(rec, lambda ev: ev == [(ip, port)],
                                           "child's instance pushed to B", context=ctx)
            assert rec.raw[i][0].metadata == {"owner": "subprocess"}

            if mode == "os_exit":
                child.send_line("exit")
            else:
                child.sigkill()
            rc = await asyncio.to_thread(child.wait_exit, 10.0)
            assert rc == (3 if mode == "os_exit" else -9), ctx()

            await async_wait_for_event(rec, lambda ev: ev == [],
                                       "removal pushed after the child process died",
                                       start=i + 1, timeout=10.0, context=ctx)
            assert await b.list_instances(py_list_param(svc)) == []
            fresh = await pc.new()
            assert await fresh.list_instances(py_list_param(svc)) == [], \
                "a fresh client still lists the dead process' instance"

    try:
        run_async(scenario())
    finally:
        child.cleanup()
