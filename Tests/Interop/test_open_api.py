"""The v2 Open API (`/nacos/v2/…`), the v3 client API (`/nacos/v3/client/…`) and the v3 admin API
(`/nacos/v3/admin/…`) over plain HTTP, with the paths, parameters and answer shapes of Nacos's own
controllers (alibaba/nacos `InstanceControllerV2`, `ServiceControllerV2`, `ClientInfoControllerV2`,
`InstanceOpenApiController`, `*ControllerV3`).

Every answer is `{"code", "message", "data"}`: code 0 and "success" on success; otherwise the HTTP
status of the error with Nacos's error code (10000 for a missing parameter, 20004 for something
not found, …) and the reason in `data`. Everything written here is checked through a second path:
the v1 list, or a gRPC query by nacos-sdk-python 3.x.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from interop_support import (PyClients, RegistrarServer, async_wait_until, endpoints, py_list_param,
                             py_register_param, run_async, unique, wait_until)


def call(server: RegistrarServer, method: str, path: str, params: dict | None = None):
    """One call with form parameters (query string for GET); returns (HTTP status, envelope)."""
    data = urllib.parse.urlencode(params or {})
    url = f"http://{server.addr}{path}"
    body = None
    if method == "GET":
        url += "?" + data
    else:
        body = data.encode()
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read().decode())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            raise AssertionError(f"{method} {path}: HTTP {error.code} without an envelope: {text!r}")


def ok(server, method, path, params=None):
    status, answer = call(server, method, path, params)
    assert status == 200 and answer["code"] == 0 and answer["message"] == "success", (method, path, answer)
    return answer["data"]


def refused(server, method, path, params, status, code, reason=""):
    got_status, answer = call(server, method, path, params)
    assert (got_status, answer["code"]) == (status, code), (method, path, params, got_status, answer)
    assert reason in str(answer["data"]), answer
    return answer


def v1_hosts(server, service, group="DEFAULT_GROUP", namespace=""):
    q = urllib.parse.urlencode({"serviceName": service, "groupName": group, "namespaceId": namespace})
    with urllib.request.urlopen(f"http://{server.addr}/nacos/v1/ns/instance/list?{q}", timeout=5) as response:
        return json.loads(response.read().decode())["hosts"]


# --- v2 -------------------------------------------------------------------------------

def test_v2_instance_lifecycle_is_seen_over_grpc_and_v1(server, sdk_dir):
    svc = unique("v2-inst")
    base = {"serviceName": svc, "ip": "10.19.0.1", "port": "8080"}
    assert ok(server, "POST", "/nacos/v2/ns/instance",
              {**base, "weight": "2.5", "metadata": json.dumps({"zone": "a"})}) == "ok"

    async def seen_over_grpc(pred, desc):
        async with PyClients(server, sdk_dir) as pc:
            client = await pc.new()
            return await async_wait_until(lambda: client.list_instances(py_list_param(svc, subscribe=False)),
                                          pred, desc)

    hosts = run_async(seen_over_grpc(lambda hs: endpoints(hs) == [("10.19.0.1", 8080)], "gRPC sees the v2 register"))
    assert hosts[0].weight == 2.5 and hosts[0].metadata == {"zone": "a"}

    detail = ok(server, "GET", "/nacos/v2/ns/instance", base)
    assert detail["serviceName"] == f"DEFAULT_GROUP@@{svc}" and detail["ip"] == "10.19.0.1"
    assert detail["port"] == 8080 and detail["weight"] == 2.5 and detail["clusterName"] == "DEFAULT"
    info = ok(server, "GET", "/nacos/v2/ns/instance/list", {"serviceName": svc})
    assert info["name"] == f"DEFAULT_GROUP@@{svc}" and [h["ip"] for h in info["hosts"]] == ["10.19.0.1"]

    # An operator edit, then batch metadata: merged by PUT, keys removed by DELETE.
    assert ok(server, "PUT", "/nacos/v2/ns/instance", {**base, "weight": "7", "metadata": '{"zone":"b"}'}) == "ok"
    wait_until(lambda: v1_hosts(server, svc), lambda hs: hs and hs[0]["weight"] == 7.0, "the PUT edit in the v1 list")
    target = json.dumps([{"ip": "10.19.0.1", "port": 8080, "clusterName": "DEFAULT"}])
    batch = ok(server, "PUT", "/nacos/v2/ns/instance/metadata/batch",
               {"serviceName": svc, "instances": target, "metadata": '{"tier":"gold","owner":"ops"}'})
    assert batch == {"updated": ["10.19.0.1:8080:ephemeral:DEFAULT"]}
    assert v1_hosts(server, svc)[0]["metadata"] == {"zone": "b", "tier": "gold", "owner": "ops"}
    ok(server, "DELETE", "/nacos/v2/ns/instance/metadata/batch",
       {"serviceName": svc, "metadata": '{"owner":""}'})
    assert v1_hosts(server, svc)[0]["metadata"] == {"zone": "b", "tier": "gold"}

    assert ok(server, "DELETE", "/nacos/v2/ns/instance", base) == "ok"
    run_async(seen_over_grpc(lambda hs: hs == [], "gRPC sees the v2 deregister"))


def test_v2_bad_input_gets_nacos_error_codes(server):
    svc = unique("v2-bad")
    path = "/nacos/v2/ns/instance"
    refused(server, "POST", path, {"ip": "10.19.1.1", "port": "80"}, 400, 10000, "serviceName")
    refused(server, "POST", path, {"serviceName": svc, "port": "80"}, 400, 10000, "'ip'")
    refused(server, "POST", path, {"serviceName": svc, "ip": "10.19.1.1", "port": "99999"}, 400, 20002, "port")
    refused(server, "POST", path, {"serviceName": svc, "ip": "10.19.1.1", "port": "80", "weight": "20000"},
            400, 21001, "weights range")
    refused(server, "POST", path, {"serviceName": svc, "ip": "10.19.1.1", "port": "80", "metadata": "{oops"},
            400, 21002, "metadata format incorrect")
    refused(server, "POST", path, {"serviceName": "bad name with spaces", "ip": "10.19.1.1", "port": "80"},
            400, 20002)
    # Nothing was registered by any of those.
    assert v1_hosts(server, svc) == []
    refused(server, "GET", path, {"serviceName": svc, "ip": "10.19.1.1", "port": "80"}, 404, 20004)
    refused(server, "GET", "/nacos/v2/ns/instance/list", {}, 400, 10000, "serviceName")
    refused(server, "GET", "/nacos/v2/ns/no-such-endpoint", {}, 404, 20004, "no such api")


def test_v2_service_crud_and_list(server):
    svc = unique("v2-svc")
    group = unique("v2-grp")
    base = {"serviceName": svc, "groupName": group}
    assert ok(server, "POST", "/nacos/v2/ns/service",
              {**base, "protectThreshold": "0.4", "metadata": '{"team":"pay"}'}) == "ok"
    refused(server, "POST", "/nacos/v2/ns/service", base, 400, 21007, "already exists")
    detail = ok(server, "GET", "/nacos/v2/ns/service", base)
    assert (detail["namespace"], detail["groupName"], detail["serviceName"]) == ("public", group, svc)
    assert detail["protectThreshold"] == 0.4 and detail["metadata"] == {"team": "pay"}
    # The v1 API sees the same service.
    q = urllib.parse.urlencode({"serviceName": svc, "groupName": group})
    with urllib.request.urlopen(f"http://{server.addr}/nacos/v1/ns/service?{q}", timeout=5) as response:
        assert json.loads(response.read().decode())["protectThreshold"] == 0.4

    # PUT without protectThreshold keeps the stored one.
    ok(server, "PUT", "/nacos/v2/ns/service", {**base, "metadata": '{"team":"core"}'})
    detail = ok(server, "GET", "/nacos/v2/ns/service", base)
    assert detail["protectThreshold"] == 0.4 and detail["metadata"] == {"team": "core"}
    assert ok(server, "GET", "/nacos/v2/ns/service/list", {"groupName": group}) == {"count": 1, "services": [svc]}

    ok(server, "POST", "/nacos/v2/ns/instance", {**base, "ip": "10.19.2.1", "port": "80"})
    refused(server, "DELETE", "/nacos/v2/ns/service", base, 400, 21009, "not empty")
    ok(server, "DELETE", "/nacos/v2/ns/instance", {**base, "ip": "10.19.2.1", "port": "80"})
    assert ok(server, "DELETE", "/nacos/v2/ns/service", base) == "ok"
    refused(server, "GET", "/nacos/v2/ns/service", base, 400, 21008, "not found")
    refused(server, "PUT", "/nacos/v2/ns/service", base, 400, 21008)
    assert ok(server, "GET", "/nacos/v2/ns/service/list", {"groupName": group}) == {"count": 0, "services": []}


def test_v2_and_v3_client_inspection_show_a_grpc_client(server, sdk_dir):
    svc = unique("v2-client")
    watched = unique("v2-watched")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            client = await pc.new()
            assert await client.register_instance(py_register_param(svc, "10.19.3.1", 9000))
            await client.list_instances(py_list_param(watched, subscribe=True))
            publishers = await async_wait_until(
                lambda: _async(ok, server, "GET", "/nacos/v2/ns/client/service/publisher/list",
                               {"serviceName": svc}),
                lambda items: len(items) == 1, "the publisher is listed")
            client_id = publishers[0]["clientId"]
            assert (publishers[0]["ip"], publishers[0]["port"], publishers[0]["cluster"]) == ("10.19.3.1", 9000,
                                                                                             "DEFAULT")
            assert client_id in ok(server, "GET", "/nacos/v2/ns/client/list")
            v2 = ok(server, "GET", "/nacos/v2/ns/client", {"clientId": client_id})
            assert v2["clientType"] == "connection" and v2["clientIp"] == "127.0.0.1"
            assert isinstance(v2["clientPort"], str) and int(v2["clientPort"]) > 0
            v3 = ok(server, "GET", "/nacos/v3/admin/ns/client", {"clientId": client_id})
            assert v3["clientPort"] == int(v2["clientPort"]) and v3["version"].startswith("Nacos-Python-Client")
            published = ok(server, "GET", "/nacos/v2/ns/client/publish/list", {"clientId": client_id})
            assert published == [{"namespace": "public", "group": "DEFAULT_GROUP", "serviceName": svc,
                                  "registeredInstance": {"ip": "10.19.3.1", "port": 9000, "cluster": "DEFAULT"}}]
            published3 = ok(server, "GET", "/nacos/v3/admin/ns/client/publish/list", {"clientId": client_id})
            assert published3[0]["publisherInfo"]["clusterName"] == "DEFAULT"
            subscribed = ok(server, "GET", "/nacos/v2/ns/client/subscribe/list", {"clientId": client_id})
            assert {"namespace": "public", "group": "DEFAULT_GROUP", "serviceName": watched} in subscribed
            subscribers = ok(server, "GET", "/nacos/v2/ns/client/service/subscriber/list", {"serviceName": watched})
            assert [s["clientId"] for s in subscribers] == [client_id]
            page = ok(server, "GET", "/nacos/v3/admin/ns/service/subscribers", {"serviceName": watched})
            assert page["totalCount"] == 1 and page["pageItems"][0]["ip"] == "127.0.0.1"
            await pc.shutdown(client)
            # Once the connection is gone, so is the client.
            await async_wait_until(lambda: _async(ok, server, "GET", "/nacos/v2/ns/client/list"),
                                   lambda ids: client_id not in ids, "the client leaves with its connection")
            return client_id

    client_id = run_async(scenario())
    refused(server, "GET", "/nacos/v2/ns/client", {"clientId": client_id}, 404, 20004, "not exist")
    refused(server, "GET", "/nacos/v2/ns/client", {}, 400, 10000, "clientId")


async def _async(function, *args):
    return function(*args)


def test_health_marks_apply_only_to_unprobed_persistent_instances(server):
    svc = unique("v2-health")
    ok(server, "POST", "/nacos/v2/ns/service", {"serviceName": svc, "ephemeral": "false"})
    # Cluster "manual" is not probed; cluster DEFAULT is (TCP).
    ok(server, "PUT", "/nacos/v3/admin/ns/cluster",
       {"serviceName": svc, "clusterName": "manual", "healthChecker": '{"type":"NONE"}'})
    detail = ok(server, "GET", "/nacos/v3/admin/ns/service", {"serviceName": svc})
    assert detail["namespaceId"] == "public" and detail["clusterMap"]["manual"]["healthChecker"] == {"type": "NONE"}
    manual = {"serviceName": svc, "ip": "10.19.4.1", "port": "7001", "clusterName": "manual", "ephemeral": "false"}
    ok(server, "POST", "/nacos/v2/ns/instance", manual)
    ok(server, "PUT", "/nacos/v2/ns/health/instance", {**manual, "healthy": "false"})
    assert [h["healthy"] for h in v1_hosts(server, svc)] == [False]
    ok(server, "PUT", "/nacos/v3/admin/ns/health/instance", {**manual, "healthy": "true"})
    assert [h["healthy"] for h in v1_hosts(server, svc)] == [True]
    refused(server, "PUT", "/nacos/v2/ns/health/instance", manual, 400, 10000, "healthy")

    probed = {"serviceName": svc, "ip": "10.19.4.2", "port": "7002", "ephemeral": "false"}
    ok(server, "POST", "/nacos/v2/ns/instance", probed)
    refused(server, "PUT", "/nacos/v2/ns/health/instance", {**probed, "healthy": "true"}, 400, 20002,
            "health check is still working")
    ephemeral = {"serviceName": svc + "-e", "ip": "10.19.4.3", "port": "7003"}
    ok(server, "POST", "/nacos/v2/ns/instance", ephemeral)
    refused(server, "PUT", "/nacos/v2/ns/health/instance", {**ephemeral, "healthy": "false"}, 404, 20004,
            "only persistent instances")
    checkers = ok(server, "GET", "/nacos/v3/admin/ns/health/checkers")
    assert set(checkers) == {"TCP", "HTTP", "NONE"}
    for instance in (manual, probed):
        ok(server, "DELETE", "/nacos/v2/ns/instance", instance)
    ok(server, "DELETE", "/nacos/v2/ns/instance", ephemeral)


def test_v2_and_v3_cluster_nodes_and_probes(server):
    me = ok(server, "GET", "/nacos/v2/core/cluster/node/self")
    assert me["state"] == "UP" and me["address"] == f"127.0.0.1:{server.port}"
    assert ok(server, "GET", "/nacos/v2/core/cluster/node/self/health") == "UP"
    for path in ("/nacos/v2/core/cluster/node/list", "/nacos/v3/admin/core/cluster/node/list"):
        assert [m["address"] for m in ok(server, "GET", path)] == [me["address"]]
        assert ok(server, "GET", path, {"state": "down"}) == []
        assert ok(server, "GET", path, {"address": "10.255."}) == []
        refused(server, "GET", path, {"state": "sleepy"}, 400, 23000, "Illegal state")
    assert ok(server, "GET", "/nacos/v3/admin/core/state/liveness") == "ok"
    assert ok(server, "GET", "/nacos/v3/admin/core/state/readiness") == "ok"
    assert ok(server, "GET", "/nacos/v3/admin/ns/ops/metrics") == {"status": "UP"}
    full = ok(server, "GET", "/nacos/v3/admin/ns/ops/metrics", {"onlyStatus": "false"})
    assert full["status"] == "UP" and full["serviceCount"] >= 0 and "instanceCount" in full


# --- v3 client ------------------------------------------------------------------------

def test_v3_client_registers_renews_lists_and_deregisters(server, sdk_dir):
    svc = unique("v3-client")
    base = {"serviceName": svc, "ip": "10.19.5.1", "port": "8081"}
    path = "/nacos/v3/client/ns/instance"
    # A heartbeat for an unknown instance: HTTP 200 with code 21003, so the client registers.
    status, answer = call(server, "POST", path, {**base, "heartBeat": "true"})
    assert (status, answer["code"]) == (200, 21003), answer
    assert ok(server, "POST", path, {**base, "metadata": "k=v"}) == "ok"
    assert ok(server, "POST", path, {**base, "heartBeat": "true"}) == "ok"
    listed = ok(server, "GET", path + "/list", {"serviceName": svc})
    assert [(i["ip"], i["port"], i["ephemeral"], i["metadata"]) for i in listed] == [("10.19.5.1", 8081, True,
                                                                                      {"k": "v"})]
    assert listed[0]["serviceName"] == f"DEFAULT_GROUP@@{svc}"

    async def grpc_hosts(pred, desc):
        async with PyClients(server, sdk_dir) as pc:
            client = await pc.new()
            return await async_wait_until(lambda: client.list_instances(py_list_param(svc, subscribe=False)),
                                          pred, desc)

    run_async(grpc_hosts(lambda hs: endpoints(hs) == [("10.19.5.1", 8081)], "gRPC sees the v3 register"))
    refused(server, "POST", path, {"serviceName": svc, "ip": "10.19.5.1"}, 400, 10000, "port")
    assert ok(server, "DELETE", path, base) == "ok"
    run_async(grpc_hosts(lambda hs: hs == [], "gRPC sees the v3 deregister"))
    assert ok(server, "GET", path + "/list", {"serviceName": svc}) == []


# --- v3 admin -------------------------------------------------------------------------

def test_v3_admin_namespaces_services_and_instances(server, sdk_dir):
    ns = unique("v3ns")
    core = "/nacos/v3/admin/core/namespace"
    assert ok(server, "GET", core + "/check", {"namespaceId": ns}) == 0
    assert ok(server, "POST", core, {"namespaceId": ns, "namespaceName": "Team A", "namespaceDesc": "a"}) is True
    refused(server, "POST", core, {"namespaceId": ns, "namespaceName": "again"}, 400, 22002, "already exists")
    refused(server, "POST", core, {"namespaceId": "bad id!", "namespaceName": "x"}, 400, 22000)
    refused(server, "POST", core, {"namespaceId": unique("v3ns")}, 400, 10000, "namespaceName")
    assert ok(server, "GET", core + "/check", {"namespaceId": ns}) == 1
    assert ok(server, "PUT", core, {"namespaceId": ns, "namespaceName": "Team B", "namespaceDesc": "b"}) is True
    shown = ok(server, "GET", core, {"namespaceId": ns})
    assert (shown["namespace"], shown["namespaceShowName"], shown["namespaceDesc"]) == (ns, "Team B", "b")
    listed = ok(server, "GET", core + "/list")
    assert listed[0]["namespace"] == "public" and ns in [n["namespace"] for n in listed]
    refused(server, "GET", core, {"namespaceId": unique("absent")}, 404, 22001, "not exist")

    svc = unique("v3-svc")
    admin = "/nacos/v3/admin/ns"
    base = {"namespaceId": ns, "serviceName": svc, "groupName": "TEAM"}
    assert ok(server, "POST", admin + "/service", {**base, "metadata": '{"owner":"a"}'}) == "ok"
    page = ok(server, "GET", admin + "/service/list", {"namespaceId": ns})
    assert page["totalCount"] == 1 and page["pageItems"][0]["name"] == svc
    assert page["pageItems"][0]["groupName"] == "TEAM" and page["pageItems"][0]["ipCount"] == 0
    assert ok(server, "GET", admin + "/service/list", {"namespaceId": ns, "ignoreEmptyService": "true"})[
        "totalCount"] == 0
    instance = {**base, "ip": "10.19.6.1", "port": "8082"}
    assert ok(server, "POST", admin + "/instance", {**instance, "weight": "3"}) == "ok"
    # PUT …/partial changes only what it is given.
    ok(server, "PUT", admin + "/instance/partial", {**instance, "metadata": '{"canary":"yes"}'})
    hosts = v1_hosts(server, svc, group="TEAM", namespace=ns)
    assert [(h["weight"], h["metadata"]) for h in hosts] == [(3.0, {"canary": "yes"})]
    got = ok(server, "GET", admin + "/instance", instance)
    assert got["serviceName"] == f"TEAM@@{svc}" and got["weight"] == 3.0 and got["enabled"] is True
    assert [i["ip"] for i in ok(server, "GET", admin + "/instance/list", base)] == ["10.19.6.1"]
    assert ok(server, "GET", admin + "/service/list", {"namespaceId": ns, "groupNameParam": "TE"})["pageItems"][0][
        "ipCount"] == 1

    async def grpc_sees():
        async with PyClients(server, sdk_dir) as pc:
            client = await pc.new(namespace=ns)
            return await async_wait_until(
                lambda: client.list_instances(py_list_param(svc, group="TEAM", subscribe=False)),
                lambda hs: endpoints(hs) == [("10.19.6.1", 8082)], "gRPC in the namespace sees the v3 instance")

    run_async(grpc_sees())
    # Bad input to the admin API: the reason and Nacos's code, and nothing changes.
    refused(server, "PUT", admin + "/instance/partial", {**instance, "ip": "10.19.6.99", "weight": "1"}, 404, 20004)
    refused(server, "GET", admin + "/service", {**base, "serviceName": unique("absent")}, 400, 21008)
    refused(server, "GET", admin + "/service/list", {"namespaceId": ns, "pageNo": "first"}, 400, 20002, "pageNo")
    refused(server, "POST", admin + "/instance", {**instance, "weight": "-1"}, 400, 21001)
    assert [h["weight"] for h in v1_hosts(server, svc, group="TEAM", namespace=ns)] == [3.0]
    refused(server, "DELETE", core, {"namespaceId": ns}, 400, 20002, "still holds")
    ok(server, "DELETE", admin + "/instance", instance)
    ok(server, "DELETE", admin + "/service", base)
    assert ok(server, "DELETE", core, {"namespaceId": ns}) is True
    assert ok(server, "GET", core + "/check", {"namespaceId": ns}) == 0
