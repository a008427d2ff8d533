"""The two third-party SDKs see each other through Registrar (same event loop; the Rust
side uses AsyncNacosNamingClient so nothing blocks the loop)."""
from __future__ import annotations

import pytest

from interop_support import (PyClients, Recorder, async_wait_for_event, async_wait_until,
                             endpoints, py_list_param, py_register_param, py_subscribe_param,
                             run_async, rust_async_client, rust_instance, unique)

GROUP = "DEFAULT_GROUP"


def _ctx(server):
    # the full server log tail is attached to every failure report by conftest.py
    return lambda: f"server: {server.describe()}"


def test_python_registers_rust_observes(server, sdk_dir):
    svc = unique("x-py2rs")
    ep = ("10.3.0.1", 8100)
    rec = Recorder("rust listener")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            rs = rust_async_client(server)
            await rs.subscribe(svc, GROUP, None, rec.rust_listener)
            py = await pc.new()
            assert await py.register_instance(py_register_param(
                svc, *ep, weight=3.0, metadata={"lang": "python"}))
            i = await async_wait_for_event(rec, lambda ev: ev == [ep],
                                           "Rust listener gets the Python client's instance",
                                           context=_ctx(server))
            hosts = await rs.get_all_instances(svc, GROUP, subscribe=False)
            assert endpoints(hosts) == [ep]
            assert hosts[0].metadata == {"lang": "python"}
            assert hosts[0].weight == pytest.approx(3.0)
            assert hosts[0].cluster_name == "DEFAULT"

            await pc.shutdown(py)
            await async_wait_for_event(rec, lambda ev: ev == [],
                                       "Rust listener gets the removal after Python shut down",
                                       start=i + 1, context=_ctx(server))

    run_async(scenario())


def test_rust_registers_python_observes(server, sdk_dir):
    svc = unique("x-rs2py")
    ep = ("10.3.0.2", 8200)
    rec = Recorder("python callback")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            py = await pc.new(update_cache_when_empty=True)
            await py.subscribe(py_subscribe_param(svc, rec.py_callback))
            rs = rust_async_client(server)
            await rs.register_instance(svc, GROUP, rust_instance(
                *ep, cluster="c2", metadata={"lang": "rust"}))
            i = await async_wait_for_event(rec, lambda ev: ev == [ep],
                                           "Python callback gets the Rust client's instance",
                                           context=_ctx(server))
            h = rec.raw[i][0]
            assert h.metadata == {"lang": "rust"}
            assert h.clusterName == "c2"

            other = await pc.new()
            hosts = await async_wait_until(lambda: other.list_instances(py_list_param(svc)),
                                           lambda hs: endpoints(hs) == [ep],
                                           "a second Python client lists the Rust instance",
                                           context=_ctx(server))
            assert hosts[0].serviceName == f"{GROUP}@@{svc}"

            await rs.deregister_instance(svc, GROUP, rust_instance(*ep, cluster="c2"))
            await async_wait_for_event(rec, lambda ev: ev == [],
                                       "Python callback gets the Rust deregistration",
                                       start=i + 1, context=_ctx(server))

    run_async(scenario())
