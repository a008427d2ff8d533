"""nacos-sdk-rust-binding-py 0.8.0 (PyO3 binding of the Rust `nacos-sdk` 0.8 crate,
tonic gRPC) against Registrar.

Rust SDK specifics the tests rely on:
- get_all_instances(subscribe=False) sends a ServiceQueryRequest (a direct server read);
  subscribe=True serves from the SDK cache or sends SubscribeServiceRequest.
- Listeners are plain callables invoked on a Rust worker thread with a list of
  NacosServiceInstance. With naming_push_empty_protection=True (binding default) empty
  pushes are ignored, so the tests turn it off where removals must be observed.
- The binding has no shutdown; a client object lives until it is garbage collected.
"""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from interop_support import (RUST_REGISTER_SCRIPT, ChildProcess, Recorder,
                             async_wait_for_event, async_wait_until, endpoints, run_async,
                             rust_async_client, rust_instance, rust_sync_client, unique,
                             wait_for_event, wait_until)

GROUP = "DEFAULT_GROUP"


def _ctx(server):
    # the full server log tail is attached to every failure report by conftest.py
    return lambda: f"server: {server.describe()}"


def test_rust_register_query_deregister(server):
    svc = unique("rs-reg")
    ip, port = "10.2.0.1", 8080
    a = rust_sync_client(server)
    b = rust_sync_client(server)

    a.register_instance(svc, GROUP, rust_instance(ip, port, weight=2.0, cluster="c1",
                                                  metadata={"version": "v1"}))
    hosts = wait_until(lambda: b.get_all_instances(svc, GROUP, subscribe=False),
                       lambda hs: endpoints(hs) == [(ip, port)],
                       f"client B get_all_instances({svc}, subscribe=False) == [{ip}:{port}]",
                       context=_ctx(server))
    h = hosts[0]
    assert h.weight == pytest.approx(2.0)
    assert h.cluster_name == "c1"
    assert h.metadata == {"version": "v1"}
    assert h.healthy is True and h.enabled is True and h.ephemeral is True
    assert h.service_name == f"{GROUP}@@{svc}"
    assert h.instance_id == f"{ip}#{port}#c1#{GROUP}@@{svc}"

    # healthy filter is client-side; our instance is healthy+enabled+weight>0
    sel = b.select_instances(svc, GROUP, subscribe=False, healthy=True)
    assert endpoints(sel) == [(ip, port)]

    a.deregister_instance(svc, GROUP, rust_instance(ip, port, cluster="c1"))
    wait_until(lambda: b.get_all_instances(svc, GROUP, subscribe=False),
               lambda hs: hs == [], "instance gone after deregister", context=_ctx(server))


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_rust_subscribe_listener_gets_push_of_other_clients_instance(server, flavour):
    svc = unique(f"rs-sub-{flavour}")
    ip, port = "10.2.0.2", 8081
    rec = Recorder(f"B.subscribe listener ({flavour})")

    if flavour == "sync":
        a = rust_sync_client(server)
        b = rust_sync_client(server)
        b.subscribe(svc, GROUP, None, rec.rust_listener)
        start = len(rec.snapshot())
        a.register_instance(svc, GROUP, rust_instance(ip, port, metadata={"k": "v"}))
        i = wait_for_event(rec, lambda ev: ev == [(ip, port)], "push carrying A's instance",
                           start=start, context=_ctx(server))
        assert rec.raw[i][0].metadata == {"k": "v"}
        a.deregister_instance(svc, GROUP, rust_instance(ip, port))
        wait_for_event(rec, lambda ev: ev == [], "push after A deregistered", start=i + 1,
                       context=_ctx(server))
        return

    async def scenario():
        a = rust_async_client(server)
        b = rust_async_client(server)
        await b.subscribe(svc, GROUP, None, rec.rust_listener)
        start = len(rec.snapshot())
        await a.register_instance(svc, GROUP, rust_instance(ip, port, metadata={"k": "v"}))
        i = await async_wait_for_event(rec, lambda ev: ev == [(ip, port)],
                                       "push carrying A's instance", start=start,
                                       context=_ctx(server))
        assert rec.raw[i][0].metadata == {"k": "v"}
        hosts = await b.get_all_instances(svc, GROUP, subscribe=False)
        assert endpoints(hosts) == [(ip, port)]
        await a.deregister_instance(svc, GROUP, rust_instance(ip, port))
        await async_wait_for_event(rec, lambda ev: ev == [], "push after A deregistered",
                                   start=i + 1, context=_ctx(server))

    run_async(scenario())


def test_rust_batch_register_visible_from_other_client(server):
    svc = unique("rs-batch")
    group = unique("RG")
    eps = [("10.2.1.1", 80), ("10.2.1.2", 81), ("10.2.1.3", 82)]
    a = rust_sync_client(server)
    b = rust_sync_client(server)

    a.batch_register_instance(svc, group, [rust_instance(ip, port, metadata={"idx": str(n)})
                                           for n, (ip, port) in enumerate(eps)])
    hosts = wait_until(lambda: b.get_all_instances(svc, group, subscribe=False),
                       lambda hs: endpoints(hs) == sorted(eps),
                       f"client B (ServiceQuery) sees all {len(eps)} batch instances",
                       context=_ctx(server))
    by_ep = {(h.ip, h.port): h for h in hosts}
    for n, ep in enumerate(eps):
        assert by_ep[ep].metadata == {"idx": str(n)}
        # the Rust SDK sends clusterName null in batches; the server stores DEFAULT
        assert by_ep[ep].cluster_name == "DEFAULT"
        assert by_ep[ep].service_name == f"{group}@@{svc}"

    # and through the subscribe path (SubscribeServiceRequest + SDK cache)
    wait_until(lambda: b.get_all_instances(svc, group),
               lambda hs: endpoints(hs) == sorted(eps),
               "client B get_all_instances(subscribe=True) sees all batch instances",
               context=_ctx(server))

    # re-sending a smaller batch replaces the connection's whole publication
    a.batch_register_instance(svc, group, [rust_instance(*eps[0])])
    wait_until(lambda: b.get_all_instances(svc, group, subscribe=False),
               lambda hs: endpoints(hs) == [eps[0]],
               "batch re-registration replaced the previous batch", context=_ctx(server))


def test_rust_process_kill_removes_instance(server, workdir):
    svc = unique("rs-exit")
    ip, port = "10.2.2.1", 7001
    rec = Recorder("B.subscribe listener")
    child = ChildProcess(RUST_REGISTER_SCRIPT, [server.addr, svc, ip, str(port)], workdir,
                         name="rust-child")

    def ctx():
        return f"{child.diagnostics()}\nserver: {server.describe()}"

    async def scenario():
        b = rust_async_client(server)
        await b.subscribe(svc, GROUP, None, rec.rust_listener)
        await asyncio.to_thread(child.wait_for_line, "registered", 15.0)
        i = await async_wait_for_event(rec, lambda ev: ev == [(ip, port)],
                                       "child's instance pushed to B", context=ctx)
        child.sigkill()
        assert await asyncio.to_thread(child.wait_exit, 10.0) == -9
        await async_wait_for_event(rec, lambda ev: ev == [],
                                   "removal pushed after the child was SIGKILLed",
                                   start=i + 1, timeout=10.0, context=ctx)
        await async_wait_until(lambda: b.get_all_instances(svc, GROUP, subscribe=False),
                               lambda hs: hs == [], "ServiceQuery shows the instance gone",
                               context=ctx)

    try:
        run_async(scenario())
    finally:
        child.cleanup()


def _push_counters(server) -> dict:
    url = f"http://{server.addr}/nacos/v1/ns/operator/metrics?onlyStatus=false"
    with urllib.request.urlopen(url, timeout=5) as answer:
        metrics = json.load(answer)
    return {k: int(metrics.get(k, 0)) for k in ("pushesSent", "pushesSkippedAsKnown")}


def test_rust_subscribe_then_register_at_once_in_one_process(server):
    """Subscribe on client B, then at once register on client A, in the same process: the sync
    binding used to stall when a push repeating B's subscribe answer landed inside A's call.
    The first push B gets is A's instance; nothing repeats the answer (counted on the server)."""
    svc = unique("rs-sub-race")
    rec = Recorder("B.subscribe listener")
    a = rust_sync_client(server)
    b = rust_sync_client(server)
    # a service with an instance already (from a third client: one instance per service and
    # client), so B's subscribe answer carries data a push could repeat
    first = rust_sync_client(server)  # held: a collected client's connection closes
    first.register_instance(svc, GROUP, rust_instance("10.2.1.1", 8081))
    wait_until(lambda: b.get_all_instances(svc, GROUP, subscribe=False),
               lambda hs: endpoints(hs) == [("10.2.1.1", 8081)], "the first instance is listed",
               context=_ctx(server))
    before = _push_counters(server)
    started = time.monotonic()
    b.subscribe(svc, GROUP, None, rec.rust_listener)
    a.register_instance(svc, GROUP, rust_instance("10.2.1.2", 8082))
    took = time.monotonic() - started
    assert took < 3.0, f"subscribe then register took {took:.1f}s (the push race stalls the binding)"
    both = [("10.2.1.1", 8081), ("10.2.1.2", 8082)]
    wait_for_event(rec, lambda ev: ev == both, "push carrying A's second instance", context=_ctx(server))
    # B's pushes: exactly the change; the one repeat the notifier offered was dropped
    after = wait_until(lambda: _push_counters(server), lambda c: c["pushesSent"] >= before["pushesSent"] + 1,
                       "the server counted B's push", context=_ctx(server))
    assert after["pushesSent"] - before["pushesSent"] == 1, (before, after, rec)
    assert rec.snapshot()[0] == both, f"B's first push is not A's change: {rec!r}"
