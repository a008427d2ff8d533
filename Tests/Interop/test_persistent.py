"""Persistent instances (ephemeral=False) with nacos-sdk-python 3.x (`v2.nacos`).

The SDK sends `PersistentInstanceRequest` for them (no redo, no ability check). They belong to
the server-side client `ip:port#false`, not to the gRPC connection: closing the connection
leaves them in place. The server writes them to `<data-dir>/registrar.sqlite` and answers
only once the write is durable, so a SIGKILL right after the response loses nothing.

The server probes every persistent instance with a TCP connect, so every instance here is
registered on 127.0.0.1 at a port where a `LoopbackPort` accepts (never anything else).
Tests that restart a server get their own (`server_factory`, data dir in the session tmp).
"""
from __future__ import annotations

import asyncio
import json
import signal
import urllib.parse
import urllib.request
from typing import Dict, Tuple

import pytest

from interop_support import (LoopbackListener, PyClients, RegistrarServer, async_wait_until, endpoints,
                             py_list_param, py_register_param, run_async, unique, wait_until)

LOOPBACK = "127.0.0.1"
GROUP = "DEFAULT_GROUP"


class LoopbackPort(LoopbackListener):
    """A TCP port on 127.0.0.1 that accepts and closes connections, for the server's health
    probes. `probes` counts the connections it saw (informational only)."""

    def __init__(self) -> None:
        super().__init__(name="probe-target")

    @property
    def probes(self) -> int:
        return self.connections

    @property
    def ep(self) -> Tuple[str, int]:
        return (LOOPBACK, self.port)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _ctx(server: RegistrarServer):
    # the full server log tail is attached to every failure report by conftest.py
    return lambda: f"server: {server.describe()}"


def v1_instance_list(server: RegistrarServer, service: str, group: str = GROUP) -> dict:
    """GET /nacos/v1/ns/instance/list (all hosts, healthy or not) as parsed JSON."""
    q = urllib.parse.urlencode({"serviceName": service, "groupName": group})
    with urllib.request.urlopen(f"http://{server.addr}/nacos/v1/ns/instance/list?{q}",
                                timeout=5) as resp:
        return json.loads(resp.read().decode())


def v1_hosts(server: RegistrarServer, service: str, group: str = GROUP) -> Dict[Tuple[str, int], dict]:
    return {(h["ip"], int(h["port"])): h for h in v1_instance_list(server, service, group)["hosts"]}


async def av1_hosts(server: RegistrarServer, service: str, group: str = GROUP) -> Dict[Tuple[str, int], dict]:
    """v1_hosts off the event loop (the SDK's tasks keep running meanwhile)."""
    return await asyncio.to_thread(v1_hosts, server, service, group)


def v1_hosts_after_restart(server: RegistrarServer, service: str) -> Dict[Tuple[str, int], dict]:
    """The first answer of the v1 HTTP API after a restart. Only reachability is waited for:
    stored instances are loaded before the server is ready, so the first answer must have
    them."""
    return wait_until(lambda: v1_hosts(server, service), lambda _hosts: True,
                      f"v1 HTTP instance/list of {service} answers after the restart",
                      timeout=15.0, context=_ctx(server))


def py_deregister_param(service: str, ip: str, port: int, *, ephemeral: bool):
    from v2.nacos import DeregisterInstanceParam
    return DeregisterInstanceParam(service_name=service, group_name=GROUP, ip=ip, port=port,
                                   ephemeral=ephemeral)


def _by_ep(instances) -> dict:
    return {(i.ip, int(i.port)): i for i in instances}


# --------------------------------------------------------------------------------------
# 1. durable across SIGKILL, and independent of the registering connection
# --------------------------------------------------------------------------------------

def test_python_sdk_registers_a_persistent_instance_that_survives_kill_9(server_factory, sdk_dir):
    srv = server_factory("persistent-kill9")
    svc = unique("py-persist")
    probe_svc = unique("py-persist-eph")   # an ephemeral marker that shows A's disconnect landed
    marker_ep = (LOOPBACK, 9)              # ephemeral: never probed

    with LoopbackPort() as p1, LoopbackPort() as p2:
        async def scenario():
            async with PyClients(srv, sdk_dir) as pc:
                # update_cache_when_empty: else the SDK drops the push that empties a service
                observer = await pc.new(update_cache_when_empty=True)

                # -- part 1: persistent instances don't go with the connection ---------------
                a = await pc.new()
                assert await a.register_instance(py_register_param(
                    svc, *p1.ep, ephemeral=False, weight=2.5, metadata={"part": "1"})) is True, \
                    "register_instance(ephemeral=False) returned False"
                assert await a.register_instance(py_register_param(
                    probe_svc, *marker_ep, metadata={"part": "marker"})) is True
                await async_wait_until(lambda: observer.list_instances(py_list_param(probe_svc)),
                                       lambda hs: endpoints(hs) == [marker_ep],
                                       "observer sees A's ephemeral marker", context=_ctx(srv))
                listed = await av1_hosts(srv, svc)
                assert list(listed) == [p1.ep], f"v1 list right after the register: {listed}"
                assert listed[p1.ep]["ephemeral"] is False, listed

                await pc.shutdown(a)   # closes A's gRPC connection (no deregister is sent)
                # once the server has dropped A's ephemeral marker it has handled the disconnect
                await async_wait_until(lambda: observer.list_instances(py_list_param(probe_svc)),
                                       lambda hs: hs == [],
                                       "A's ephemeral marker removed after A shut down",
                                       context=_ctx(srv))
                after_close = await av1_hosts(srv, svc)
                assert list(after_close) == [p1.ep], (
                    "the persistent instance went away with the connection that registered it: "
                    f"{after_close}")
                assert after_close[p1.ep]["ephemeral"] is False

                # -- part 2: SIGKILL as soon as the register call returns --------------------
                c = await pc.new()
                ok = await c.register_instance(py_register_param(
                    svc, *p2.ep, ephemeral=False, metadata={"part": "2"}, cluster="c2"))
                srv.kill()   # SIGKILL, right after the response
                assert ok is True, "register_instance(ephemeral=False) returned False"
                assert srv.proc.returncode == -signal.SIGKILL, \
                    f"server did not die of SIGKILL: rc={srv.proc.returncode}"
                # no client of the old server survives the restart: a live SDK could
                # re-register (it has no redo for persistent instances, but be sure)
                await pc.shutdown(c)
                await pc.shutdown(observer)

        run_async(scenario())

        assert (srv.data_dir / "registrar.sqlite").exists(), \
            f"no registrar.sqlite in {srv.data_dir}: {sorted(p.name for p in srv.data_dir.iterdir())}"
        old_port = srv.port
        srv.restart()   # the process is already dead: starts it again, same port and data dir
        assert srv.port == old_port

        hosts = v1_hosts_after_restart(srv, svc)
        assert sorted(hosts) == sorted([p1.ep, p2.ep]), \
            f"after SIGKILL + restart, v1 instance/list of {svc} has {sorted(hosts)}"
        for ep in (p1.ep, p2.ep):
            assert hosts[ep]["ephemeral"] is False, hosts[ep]
        assert hosts[p1.ep]["weight"] == pytest.approx(2.5)
        assert hosts[p1.ep]["metadata"] == {"part": "1"}
        assert hosts[p2.ep]["metadata"] == {"part": "2"}
        assert hosts[p2.ep]["clusterName"] == "c2"
        assert v1_hosts(srv, probe_svc) == {}, "the ephemeral marker came back after the restart"

        async def check_with_fresh_client():
            async with PyClients(srv, sdk_dir) as pc:
                fresh = await pc.new()
                got = await fresh.list_instances(py_list_param(svc))
                assert endpoints(got) == sorted([p1.ep, p2.ep]), \
                    f"fresh SDK client after the restart lists {endpoints(got)}"
                by_ep = _by_ep(got)
                for ep in (p1.ep, p2.ep):
                    h = by_ep[ep]
                    assert h.ephemeral is False, f"{ep} listed with ephemeral={h.ephemeral}"
                    assert h.serviceName == f"{GROUP}@@{svc}"
                assert by_ep[p1.ep].metadata == {"part": "1"}
                assert by_ep[p2.ep].clusterName == "c2"

        run_async(check_with_fresh_client())
        print(f"\n[persistent] probes seen: {p1.port}={p1.probes} {p2.port}={p2.probes}")


# --------------------------------------------------------------------------------------
# 2. a service is either persistent or ephemeral
# --------------------------------------------------------------------------------------

def test_persistent_and_ephemeral_do_not_mix(server, sdk_dir):
    from v2.nacos import NacosException
    persistent_svc = unique("py-mix-p")
    ephemeral_svc = unique("py-mix-e")
    eph_ep = (LOOPBACK, 9)   # ephemeral instances are never probed

    with LoopbackPort() as p:
        async def scenario():
            async with PyClients(server, sdk_dir) as pc:
                writer, other = await pc.new(), await pc.new()

                # persistent first, then an ephemeral instance into the same service
                assert await writer.register_instance(py_register_param(
                    persistent_svc, *p.ep, ephemeral=False)) is True
                with pytest.raises(NacosException) as refused:
                    await other.register_instance(py_register_param(persistent_svc, *eph_ep))
                msg = refused.value.message
                assert "persistent service" in msg, f"unexpected error: {refused.value!r}"
                assert msg == (f"Current service {GROUP}@@{persistent_svc} is persistent service, "
                               f"can't register ephemeral instance."), msg
                hosts = await av1_hosts(server, persistent_svc)
                assert list(hosts) == [p.ep] and hosts[p.ep]["ephemeral"] is False, \
                    f"the refused ephemeral register changed the service: {hosts}"

                # ephemeral first, then a persistent instance into the same service
                assert await writer.register_instance(py_register_param(ephemeral_svc, *eph_ep)) is True
                await async_wait_until(lambda: other.list_instances(py_list_param(ephemeral_svc)),
                                       lambda hs: endpoints(hs) == [eph_ep],
                                       "the ephemeral instance is listed", context=_ctx(server))
                with pytest.raises(NacosException) as refused:
                    await other.register_instance(py_register_param(ephemeral_svc, *p.ep,
                                                                    ephemeral=False))
                msg = refused.value.message
                assert "ephemeral service" in msg, f"unexpected error: {refused.value!r}"
                assert msg == (f"Current service {GROUP}@@{ephemeral_svc} is ephemeral service, "
                               f"can't register persistent instance."), msg
                hosts = await av1_hosts(server, ephemeral_svc)
                assert list(hosts) == [eph_ep] and hosts[eph_ep]["ephemeral"] is True, \
                    f"the refused persistent register changed the service: {hosts}"

                # both clients still work after a refusal
                assert await other.deregister_instance(py_deregister_param(
                    persistent_svc, *p.ep, ephemeral=False)) is True
                await async_wait_until(lambda: av1_hosts(server, persistent_svc), lambda hs: hs == {},
                           "the persistent instance is gone after its deregister",
                           context=_ctx(server))

        run_async(scenario())


# --------------------------------------------------------------------------------------
# 3. deregister
# --------------------------------------------------------------------------------------

def test_python_sdk_deregisters_a_persistent_instance(server_factory, sdk_dir):
    srv = server_factory("persistent-deregister")
    svc = unique("py-persist-dereg")

    with LoopbackPort() as gone, LoopbackPort() as kept:
        async def scenario():
            async with PyClients(srv, sdk_dir) as pc:
                a, b = await pc.new(), await pc.new()
                for lp in (gone, kept):
                    assert await a.register_instance(py_register_param(
                        svc, *lp.ep, ephemeral=False)) is True
                await async_wait_until(lambda: b.list_instances(py_list_param(svc)),
                                       lambda hs: endpoints(hs) == sorted([gone.ep, kept.ep]),
                                       "client B lists both persistent instances",
                                       context=_ctx(srv))

                # persistent instances belong to ip:port, not to A: B may deregister one
                assert await b.deregister_instance(py_deregister_param(
                    svc, *gone.ep, ephemeral=False)) is True
                hosts = await async_wait_until(lambda: av1_hosts(srv, svc), lambda hs: gone.ep not in hs,
                                   f"{gone.ep} gone from v1 instance/list after the deregister",
                                   context=_ctx(srv))
                assert list(hosts) == [kept.ep], hosts
                await async_wait_until(lambda: b.list_instances(py_list_param(svc)),
                                       lambda hs: endpoints(hs) == [kept.ep],
                                       "client B no longer lists the deregistered instance",
                                       context=_ctx(srv))

        run_async(scenario())

        rc, killed = srv.stop()
        assert rc == 0 and not killed, f"SIGTERM stop: rc={rc} sigkill_needed={killed}"
        srv.start()   # a new port, the same data dir

        hosts = v1_hosts_after_restart(srv, svc)
        assert list(hosts) == [kept.ep], \
            f"after a restart v1 instance/list of {svc} has {sorted(hosts)} (want only {kept.ep})"
        assert hosts[kept.ep]["ephemeral"] is False

        async def check_with_fresh_client():
            async with PyClients(srv, sdk_dir) as pc:
                fresh = await pc.new()
                got = await fresh.list_instances(py_list_param(svc))
                assert endpoints(got) == [kept.ep], \
                    f"fresh SDK client after the restart lists {endpoints(got)}"
                assert got[0].ephemeral is False

        run_async(check_with_fresh_client())
