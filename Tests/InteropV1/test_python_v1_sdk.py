"""nacos-sdk-python 1.0.0 (`nacos.NacosClient`, the HTTP-only v1 client) against Registrar's
Nacos v1 HTTP Open API (docs: /work/shared/reference/v1-http-api.md, sections 0-2, 6, 9).

What this SDK version actually sends (read from nacos/client.py 1.0.0):
- every parameter url-encoded in the query string, no body; `User-Agent:
  Nacos-Python-Client:v1.0.0`; a 3 s timeout;
- Python reprs: booleans `True`/`False`, floats `1.0`, and `None` as the literal `None`
  (so add_naming_instance without cluster_name sends `clusterName=None`);
- send_heartbeat: `PUT /nacos/v1/ns/instance/beat?serviceName=G@@S&groupName=G&beat=<json>`
  with beat = {serviceName: G@@S, ip, port, weight, ephemeral[, cluster][, metadata]}, no
  top-level ip/port/clusterName; heartbeat_interval=N starts a daemon thread doing that
  every N s (full beats only, responses ignored);
- HTTP errors other than 500/502/503 raise NacosException("Request Error, code is N")
  (the exception has no code attribute; 500/502/503 rotate servers and end in
  NacosRequestException("All server are not available")).
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from nacos import NacosException
from nacos.listener import SubscribeListener

from interop_support import unique, wait_until

DEFAULT_GROUP = "DEFAULT_GROUP"

# Short heartbeat timings through preserved metadata (ms): unhealthy after 1.5 s without a
# beat, deleted after 3 s. The server's sweep runs about once per second.
SHORT_BEAT = {"preserved.heart.beat.interval": "500",
              "preserved.heart.beat.timeout": "1500",
              "preserved.ip.delete.timeout": "3000"}

_ip_counter = itertools.count(1)
_ip_base = random.Random().randint(0, 200)


def new_ip() -> str:
    """A fresh instance IP per call (each v1 ip:port is its own client on a 2.x server;
    distinct IPs keep tests from sharing one)."""
    n = next(_ip_counter)
    return f"10.{_ip_base}.{n // 250}.{n % 250 + 1}"


def by_ep(list_result: dict) -> dict:
    """{(ip, port): host} of an /instance/list answer."""
    return {(h["ip"], int(h["port"])): h for h in list_result["hosts"]}


def eps(list_result: dict) -> list:
    return sorted(by_ep(list_result))


def dump(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)


def raw(server, method: str, path: str, params: dict | None = None,
        form: dict | None = None, timeout: float = 3.0):
    """One raw HTTP request to the v1 front: (status, body text, content type)."""
    url = f"http://127.0.0.1:{server.port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), \
                resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), e.headers.get("Content-Type", "")


def assert_list_envelope(res: dict, grouped: str, group: str = DEFAULT_GROUP,
                         clusters: str = "") -> None:
    """The 2.x ServiceInfo shape of GET /nacos/v1/ns/instance/list (spec §2.6)."""
    assert res.get("name") == grouped, f"`name` must be the grouped name {grouped!r}:\n{dump(res)}"
    assert res.get("groupName") == group, dump(res)
    assert res.get("clusters") == clusters, dump(res)
    assert res.get("cacheMillis") == 10000, dump(res)
    assert res.get("checksum") == "", dump(res)
    assert isinstance(res.get("hosts"), list), dump(res)
    last = res.get("lastRefTime")
    assert isinstance(last, int) and abs(last / 1000.0 - time.time()) < 300, \
        f"lastRefTime must be the server's current time in ms:\n{dump(res)}"
    assert res.get("valid") is True, dump(res)
    assert res.get("allIPs") is False, dump(res)
    assert res.get("reachProtectionThreshold") is False, dump(res)


def wait_hosts(client, svc: str, pred, desc: str, timeout: float = 10.0, **list_kw) -> dict:
    return wait_until(lambda: client.list_naming_instance(svc, **list_kw), pred,
                      f"list_naming_instance({svc!r}, {list_kw}) {desc}", timeout=timeout)


# --------------------------------------------------------------------------------------
# register / list
# --------------------------------------------------------------------------------------

def test_add_instance_then_list_shows_it_in_2x_shape(nacos_client):
    c = nacos_client()
    svc, ip, port = unique("v1-reg"), new_ip(), 8080
    meta = {"version": "v1", "zone": "z1"}

    assert c.add_naming_instance(svc, ip, port, cluster_name="c1", weight=2.5,
                                 metadata=meta) is True, "register must answer exactly `ok`"

    res = c.list_naming_instance(svc)
    assert_list_envelope(res, f"{DEFAULT_GROUP}@@{svc}")
    assert eps(res) == [(ip, port)], dump(res)
    h = res["hosts"][0]
    assert h["ip"] == ip and h["port"] == port, dump(h)
    assert h["weight"] == pytest.approx(2.5), dump(h)
    assert h["metadata"] == meta, dump(h)
    assert h["clusterName"] == "c1", dump(h)
    assert h["healthy"] is True and h["enabled"] is True and h["ephemeral"] is True, dump(h)
    assert h["serviceName"] == f"{DEFAULT_GROUP}@@{svc}", "hosts[].serviceName must be grouped"
    assert h["instanceId"] == f"{ip}#{port}#c1#{DEFAULT_GROUP}@@{svc}", dump(h)
    assert (h["instanceHeartBeatInterval"], h["instanceHeartBeatTimeOut"],
            h["ipDeleteTimeout"]) == (5000, 15000, 30000), dump(h)
    assert h["instanceIdGenerator"] == "simple", dump(h)

    # a second, independent client sees the same; the clusters filter is exact
    other = nacos_client()
    assert eps(other.list_naming_instance(svc, clusters="c1")) == [(ip, port)]
    res_other_cluster = other.list_naming_instance(svc, clusters="c2")
    assert res_other_cluster["hosts"] == [], dump(res_other_cluster)
    assert res_other_cluster["clusters"] == "c2", "`clusters` echoes the parameter"


def test_list_of_unknown_service_is_an_empty_envelope(nacos_client):
    c = nacos_client()
    svc = unique("v1-none")
    res = c.list_naming_instance(svc)
    assert_list_envelope(res, f"{DEFAULT_GROUP}@@{svc}")
    assert res["hosts"] == []


def test_reregister_same_endpoint_overwrites(nacos_client):
    c = nacos_client()
    svc, ip, port = unique("v1-rereg"), new_ip(), 8080
    assert c.add_naming_instance(svc, ip, port, cluster_name="c1", weight=1.0,
                                 metadata={"rev": "1"})
    assert c.add_naming_instance(svc, ip, port, cluster_name="c1", weight=7.0,
                                 metadata={"rev": "2"})
    res = c.list_naming_instance(svc)
    assert eps(res) == [(ip, port)], f"re-register must not duplicate:\n{dump(res)}"
    h = res["hosts"][0]
    assert h["weight"] == pytest.approx(7.0) and h["metadata"] == {"rev": "2"}, dump(h)


# --------------------------------------------------------------------------------------
# isolation: groups and namespaces
# --------------------------------------------------------------------------------------

def test_group_isolation(nacos_client):
    c = nacos_client()
    svc, grp = unique("v1-grp"), unique("grp")
    ip_g, ip_d = new_ip(), new_ip()

    assert c.add_naming_instance(svc, ip_g, 8080, cluster_name="c1", group_name=grp)
    assert c.add_naming_instance(svc, ip_d, 8080, cluster_name="c1")  # DEFAULT_GROUP

    in_grp = c.list_naming_instance(svc, group_name=grp)
    assert_list_envelope(in_grp, f"{grp}@@{svc}", group=grp)
    assert eps(in_grp) == [(ip_g, 8080)], dump(in_grp)
    assert in_grp["hosts"][0]["serviceName"] == f"{grp}@@{svc}"
    assert in_grp["hosts"][0]["instanceId"] == f"{ip_g}#8080#c1#{grp}@@{svc}"

    in_default = c.list_naming_instance(svc)
    assert eps(in_default) == [(ip_d, 8080)], dump(in_default)

    # the SDK's list passes a grouped serviceName through unchanged; the server must not
    # prefix it again (a name that contains @@ ignores groupName)
    grouped = c.list_naming_instance(f"{grp}@@{svc}")
    assert eps(grouped) == [(ip_g, 8080)], dump(grouped)

    # removing from one group leaves the other alone
    assert c.remove_naming_instance(svc, ip_g, 8080, cluster_name="c1", group_name=grp)
    assert c.list_naming_instance(svc, group_name=grp)["hosts"] == []
    assert eps(c.list_naming_instance(svc)) == [(ip_d, 8080)]


def test_namespace_isolation(nacos_client):
    public = nacos_client()
    dev = nacos_client(namespace="dev-ns")
    svc = unique("v1-ns")
    ip_pub, ip_dev = new_ip(), new_ip()

    assert dev.add_naming_instance(svc, ip_dev, 8080, cluster_name="c1")
    only_dev = public.list_naming_instance(svc)
    assert only_dev["hosts"] == [], f"public must not see dev-ns instances:\n{dump(only_dev)}"

    assert public.add_naming_instance(svc, ip_pub, 8080, cluster_name="c1")
    assert eps(public.list_naming_instance(svc)) == [(ip_pub, 8080)]
    dev_view = dev.list_naming_instance(svc)
    assert eps(dev_view) == [(ip_dev, 8080)], dump(dev_view)
    assert dev_view["name"] == f"{DEFAULT_GROUP}@@{svc}", dump(dev_view)
    # list_naming_instance(namespace_id=...) overrides the client's namespace
    assert eps(public.list_naming_instance(svc, namespace_id="dev-ns")) == [(ip_dev, 8080)]
    # get/beat/remove carry namespaceId too
    got = dev.get_naming_instance(svc, ip_dev, 8080, cluster_name="c1")
    assert got["ip"] == ip_dev, dump(got)
    with pytest.raises(NacosException, match="code is 404"):
        public.get_naming_instance(svc, ip_dev, 8080, cluster_name="c1")
    beat = dev.send_heartbeat(svc, ip_dev, 8080, cluster_name="c1")
    assert beat["code"] == 10200, beat

    assert dev.remove_naming_instance(svc, ip_dev, 8080, cluster_name="c1")
    assert dev.list_naming_instance(svc)["hosts"] == []
    assert eps(public.list_naming_instance(svc)) == [(ip_pub, 8080)], \
        "removing in dev-ns must not touch public"


# --------------------------------------------------------------------------------------
# heartbeats
# --------------------------------------------------------------------------------------

def test_send_heartbeat_answers_10200_with_default_interval(nacos_client):
    c = nacos_client()
    svc, ip = unique("v1-beat"), new_ip()
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1")
    beat = c.send_heartbeat(svc, ip, 8080, cluster_name="c1")
    assert isinstance(beat, dict), beat
    assert beat.get("code") == 10200, beat
    assert beat.get("clientBeatInterval") == 5000, beat
    assert beat.get("lightBeatEnabled") is True, beat
    # a beat for a registered instance does not change it
    h = c.list_naming_instance(svc)["hosts"]
    assert [(x["ip"], x["clusterName"], x["healthy"]) for x in h] == [(ip, "c1", True)], h


def test_send_heartbeat_interval_follows_preserved_metadata(nacos_client):
    c = nacos_client()
    svc, ip = unique("v1-beat-int"), new_ip()
    meta = {"preserved.heart.beat.interval": "3000"}
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1", metadata=meta)
    beat = c.send_heartbeat(svc, ip, 8080, cluster_name="c1", metadata=meta)
    assert beat.get("code") == 10200, beat
    assert beat.get("clientBeatInterval") == 3000, beat
    h = c.list_naming_instance(svc)["hosts"][0]
    assert h["instanceHeartBeatInterval"] == 3000, dump(h)


def test_send_heartbeat_for_unregistered_instance_reregisters_it(nacos_client):
    c = nacos_client()
    svc, grp = unique("v1-beat-rereg"), unique("grp")
    ip1, ip2 = new_ip(), new_ip()

    # default group, no cluster: the beat JSON has no `cluster` -> DEFAULT
    beat = c.send_heartbeat(svc, ip1, 8080, weight=3.0, metadata={"from": "beat"})
    assert beat.get("code") == 10200, beat
    res = wait_hosts(c, svc, lambda r: eps(r) == [(ip1, 8080)], "shows the beat-registered host",
                     timeout=5)
    h = res["hosts"][0]
    assert h["clusterName"] == "DEFAULT", dump(h)
    assert h["weight"] == pytest.approx(3.0), "weight comes from beat.weight"
    assert h["metadata"] == {"from": "beat"}, dump(h)
    assert h["healthy"] is True and h["ephemeral"] is True and h["enabled"] is True, dump(h)
    assert h["serviceName"] == f"{DEFAULT_GROUP}@@{svc}", dump(h)

    # other group with a cluster: beat.serviceName is G@@S, beat.cluster = c2
    beat = c.send_heartbeat(svc, ip2, 9090, cluster_name="c2", group_name=grp)
    assert beat.get("code") == 10200, beat
    res = wait_hosts(c, svc, lambda r: eps(r) == [(ip2, 9090)], "shows the host in the group",
                     timeout=5, group_name=grp)
    h = res["hosts"][0]
    assert h["clusterName"] == "c2", dump(h)
    assert h["serviceName"] == f"{grp}@@{svc}", dump(h)
    assert h["weight"] == pytest.approx(1.0), dump(h)  # the SDK's default beat weight
    assert eps(c.list_naming_instance(svc)) == [(ip1, 8080)], "DEFAULT_GROUP unchanged"


def test_heartbeat_expiry_unhealthy_then_deleted_while_auto_beat_stays(nacos_client):
    """Without beats an instance goes unhealthy after preserved.heart.beat.timeout (1.5 s)
    and disappears after preserved.ip.delete.timeout (3 s); one kept alive by the SDK's
    auto-beat thread (heartbeat_interval=0.5) stays healthy throughout."""
    c = nacos_client()
    svc = unique("v1-expiry")
    quiet, beating = (new_ip(), 9001), (new_ip(), 9002)

    t0 = time.monotonic()
    assert c.add_naming_instance(svc, *quiet, cluster_name="c1", metadata=SHORT_BEAT)
    assert c.add_naming_instance(svc, *beating, cluster_name="c1", metadata=SHORT_BEAT,
                                 heartbeat_interval=0.5)
    first = by_ep(c.list_naming_instance(svc))
    assert set(first) == {quiet, beating}, dump(first)
    q = first[quiet]
    assert q["healthy"] is True, dump(q)
    assert (q["instanceHeartBeatInterval"], q["instanceHeartBeatTimeOut"],
            q["ipDeleteTimeout"]) == (500, 1500, 3000), \
        f"per-host timing fields must come from the preserved metadata:\n{dump(q)}"

    timeline = []          # (seconds since t0 when the answer arrived, quiet, beating)
    unhealthy_at = gone_at = None
    deadline = t0 + 10.0   # generous: ~1.5 s / ~3 s expected, sweep about once per second
    while time.monotonic() < deadline:
        hosts = by_ep(c.list_naming_instance(svc))
        now = time.monotonic() - t0
        qh, bh = hosts.get(quiet), hosts.get(beating)
        timeline.append((round(now, 2), qh and qh["healthy"], bh and bh["healthy"]))
        assert bh is not None and bh["healthy"] is True, \
            f"the auto-beating instance must stay healthy; timeline: {timeline}"
        if qh is not None and qh["healthy"] is False and unhealthy_at is None:
            unhealthy_at = now
        if qh is None and gone_at is None:
            gone_at = now
        if gone_at is not None and now >= max(gone_at + 1.0, 4.5):
            break
        time.sleep(0.1)

    assert unhealthy_at is not None, \
        f"the quiet instance never showed healthy=false before vanishing; timeline: {timeline}"
    assert gone_at is not None, f"the quiet instance was not deleted within 10 s; timeline: {timeline}"
    assert unhealthy_at >= 1.4, f"unhealthy too early ({unhealthy_at} s < 1.5 s timeout): {timeline}"
    assert gone_at >= 2.9, f"deleted too early ({gone_at} s < 3 s delete timeout): {timeline}"
    assert unhealthy_at < gone_at

    # the auto-beat thread stops with remove_naming_instance, and the instance goes
    assert c.remove_naming_instance(svc, *beating, cluster_name="c1")
    assert c.list_naming_instance(svc)["hosts"] == []


def test_healthy_only_drops_unhealthy_hosts_and_a_beat_revives(nacos_client):
    c = nacos_client()
    svc = unique("v1-healthy-only")
    quiet, beating = (new_ip(), 9001), (new_ip(), 9002)
    meta = dict(SHORT_BEAT, **{"preserved.ip.delete.timeout": "60000"})  # stays unhealthy

    assert c.add_naming_instance(svc, *quiet, cluster_name="c1", metadata=meta)
    assert c.add_naming_instance(svc, *beating, cluster_name="c1", metadata=meta,
                                 heartbeat_interval=0.5)
    both = c.list_naming_instance(svc, healthy_only=True)
    assert set(by_ep(both)) == {quiet, beating}, dump(both)

    res = wait_hosts(c, svc, lambda r: by_ep(r).get(quiet, {}).get("healthy") is False,
                     "shows the quiet instance unhealthy", timeout=10)
    assert by_ep(res)[beating]["healthy"] is True, dump(res)

    healthy = c.list_naming_instance(svc, healthy_only=True)
    assert eps(healthy) == [beating], f"healthyOnly=True must drop unhealthy hosts:\n{dump(healthy)}"
    everything = c.list_naming_instance(svc, healthy_only=False)
    assert set(by_ep(everything)) == {quiet, beating}, dump(everything)

    # one beat turns it healthy again (it then expires again 1.5 s later)
    beat = c.send_heartbeat(svc, *quiet, cluster_name="c1", metadata=meta)
    assert beat.get("code") == 10200, beat
    assert beat.get("clientBeatInterval") == 500, beat
    wait_hosts(c, svc, lambda r: quiet in by_ep(r), "shows the beaten instance healthy again",
               timeout=1.2, healthy_only=True)

    assert c.remove_naming_instance(svc, *quiet, cluster_name="c1")
    assert c.remove_naming_instance(svc, *beating, cluster_name="c1")


def test_auto_beat_without_cluster_keeps_none_cluster_instance_alive(nacos_client):
    """The usual SDK call (no cluster_name) registers into cluster "None", while its beats
    carry no cluster (server default DEFAULT). The beats must still refresh that instance
    (2.x matches ip:port + service) and must not create a second copy in DEFAULT."""
    c = nacos_client()
    svc, ip = unique("v1-none-beat"), new_ip()
    assert c.add_naming_instance(svc, ip, 8080, metadata=SHORT_BEAT, heartbeat_interval=0.5)
    deadline = time.monotonic() + 4.0   # > the 3 s delete timeout
    seen = []
    while time.monotonic() < deadline:
        hosts = c.list_naming_instance(svc)["hosts"]
        seen.append([(h["clusterName"], h["healthy"]) for h in hosts])
        assert [(h["ip"], h["clusterName"], h["healthy"]) for h in hosts] == \
            [(ip, "None", True)], f"timeline: {seen}"
        time.sleep(0.2)
    assert c.remove_naming_instance(svc, ip, 8080)
    assert c.list_naming_instance(svc)["hosts"] == []


# --------------------------------------------------------------------------------------
# modify / remove / get
# --------------------------------------------------------------------------------------

def test_modify_naming_instance_weight_metadata_and_enable(nacos_client):
    c = nacos_client()
    svc, ip = unique("v1-modify"), new_ip()
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1", weight=1.0,
                                 metadata={"a": "1"})

    assert c.modify_naming_instance(svc, ip, 8080, cluster_name="c1", weight=4.0,
                                    metadata={"a": "2", "b": "x"}) is True
    res = c.list_naming_instance(svc)
    h = by_ep(res)[(ip, 8080)]
    assert h["weight"] == pytest.approx(4.0), dump(h)
    assert h["metadata"] == {"a": "2", "b": "x"}, dump(h)
    assert h["enabled"] is True, dump(h)

    # disable (weight/metadata repeated: a 2.x PUT rewrites the whole overlay)
    assert c.modify_naming_instance(svc, ip, 8080, cluster_name="c1", weight=4.0,
                                    metadata={"a": "2", "b": "x"}, enable=False) is True
    res = c.list_naming_instance(svc)
    assert res["hosts"] == [], f"a disabled instance is omitted from /instance/list:\n{dump(res)}"

    assert c.modify_naming_instance(svc, ip, 8080, cluster_name="c1", weight=4.0,
                                    metadata={"a": "2", "b": "x"}, enable=True) is True
    res = c.list_naming_instance(svc)
    assert eps(res) == [(ip, 8080)], dump(res)
    h = res["hosts"][0]
    assert h["enabled"] is True and h["weight"] == pytest.approx(4.0), dump(h)
    assert h["metadata"] == {"a": "2", "b": "x"}, dump(h)


def test_modify_of_unknown_service_is_400(nacos_client):
    c = nacos_client()
    with pytest.raises(NacosException, match="code is 400"):
        c.modify_naming_instance(unique("v1-nosvc"), new_ip(), 8080, cluster_name="c1",
                                 weight=2.0)


def test_remove_naming_instance(nacos_client):
    c = nacos_client()
    svc = unique("v1-remove")
    a, b = new_ip(), new_ip()
    assert c.add_naming_instance(svc, a, 8080, cluster_name="c1")
    assert c.add_naming_instance(svc, b, 8080, cluster_name="c1")
    assert eps(c.list_naming_instance(svc)) == sorted([(a, 8080), (b, 8080)])

    assert c.remove_naming_instance(svc, a, 8080, cluster_name="c1") is True
    assert eps(c.list_naming_instance(svc)) == [(b, 8080)]
    # 2.x matches deregistration on ip:port only; the SDK omits clusterName when not given
    assert c.remove_naming_instance(svc, b, 8080) is True
    assert c.list_naming_instance(svc)["hosts"] == []
    # deregistering what is not there still answers ok
    assert c.remove_naming_instance(svc, b, 8080) is True
    assert c.remove_naming_instance(unique("v1-never"), new_ip(), 1) is True


def test_get_naming_instance(nacos_client):
    c = nacos_client()
    svc, grp, ip = unique("v1-get"), unique("grp"), new_ip()
    meta = {"k": "v"}
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1", weight=2.0, metadata=meta)

    got = c.get_naming_instance(svc, ip, 8080, cluster_name="c1")
    assert got.get("service") == f"{DEFAULT_GROUP}@@{svc}", dump(got)
    assert (got.get("ip"), got.get("port")) == (ip, 8080), dump(got)
    assert got.get("clusterName") == "c1", dump(got)
    assert got.get("weight") == pytest.approx(2.0), dump(got)
    assert got.get("healthy") is True, dump(got)
    assert got.get("instanceId") == f"{ip}#8080#c1#{DEFAULT_GROUP}@@{svc}", dump(got)
    assert got.get("metadata") == meta, dump(got)

    # get sends no groupName: a non-default group goes in as G@@S
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1", group_name=grp)
    got = c.get_naming_instance(f"{grp}@@{svc}", ip, 8080, cluster_name="c1")
    assert got.get("service") == f"{grp}@@{svc}", dump(got)

    # unknown ip in a service that has hosts, and a service without hosts: 404
    with pytest.raises(NacosException, match="code is 404"):
        c.get_naming_instance(svc, new_ip(), 8080, cluster_name="c1")
    with pytest.raises(NacosException, match="code is 404"):
        c.get_naming_instance(unique("v1-get-none"), ip, 8080, cluster_name="c1")


def test_none_cluster_quirk(nacos_client, server):
    """add_naming_instance without cluster_name sends clusterName=None, so the instance
    lands in a cluster literally named "None"; get_naming_instance without cluster_name
    then asks for DEFAULT and gets a 404."""
    c = nacos_client()
    svc, ip = unique("v1-quirk"), new_ip()
    assert c.add_naming_instance(svc, ip, 8080)
    h = c.list_naming_instance(svc)["hosts"]
    assert [(x["ip"], x["clusterName"]) for x in h] == [(ip, "None")], h
    assert h[0]["instanceId"] == f"{ip}#8080#None#{DEFAULT_GROUP}@@{svc}", h

    with pytest.raises(NacosException, match="code is 404"):
        c.get_naming_instance(svc, ip, 8080)
    status, body, _ = raw(server, "GET", "/nacos/v1/ns/instance",
                          {"serviceName": svc, "ip": ip, "port": 8080})
    assert status == 404 and "no ips found for cluster DEFAULT" in body, (status, body)

    got = c.get_naming_instance(svc, ip, 8080, cluster_name="None")
    assert (got.get("ip"), got.get("clusterName")) == (ip, "None"), dump(got)
    assert c.list_naming_instance(svc, clusters="None")["hosts"], "cluster filter 'None'"


# --------------------------------------------------------------------------------------
# subscribe (the SDK polls /instance/list and diffs hosts by instanceId + md5(str(host)))
# --------------------------------------------------------------------------------------

def test_subscribe_polling_reports_added_modified_deleted(nacos_client):
    c, writer = nacos_client(), nacos_client()
    svc, a, b = unique("v1-sub"), new_ip(), new_ip()
    events, lock = [], threading.Lock()

    def on_event(event, slc):
        with lock:
            events.append((event, slc.instance["ip"], slc.instance["port"]))

    def snapshot():
        with lock:
            return list(events)

    # first poll happens synchronously inside subscribe() and never notifies
    c.subscribe(SubscribeListener(on_event, "rec"), 0.5, svc)

    assert writer.add_naming_instance(svc, a, 8080, cluster_name="c1")
    wait_until(snapshot, lambda ev: ("ADDED", a, 8080) in ev, "ADDED a", timeout=6)
    assert writer.add_naming_instance(svc, b, 8080, cluster_name="c1")
    wait_until(snapshot, lambda ev: ("ADDED", b, 8080) in ev, "ADDED b", timeout=6)

    # unchanged hosts must look identical poll after poll (no spurious MODIFIED)
    time.sleep(1.6)
    assert [e for e in snapshot() if e[0] == "MODIFIED"] == [], \
        f"host JSON changed between polls without a change: {snapshot()}"

    assert writer.modify_naming_instance(svc, b, 8080, cluster_name="c1", weight=5.0)
    wait_until(snapshot, lambda ev: ("MODIFIED", b, 8080) in ev, "MODIFIED b", timeout=6)
    assert writer.remove_naming_instance(svc, a, 8080, cluster_name="c1")
    wait_until(snapshot, lambda ev: ("DELETED", a, 8080) in ev, "DELETED a", timeout=6)
    assert ("MODIFIED", a, 8080) not in snapshot(), snapshot()


# --------------------------------------------------------------------------------------
# errors and raw HTTP
# --------------------------------------------------------------------------------------

def test_sdk_weight_out_of_range_is_400(nacos_client, server):
    c = nacos_client()
    svc = unique("v1-weight")
    with pytest.raises(NacosException, match="code is 400"):
        c.add_naming_instance(svc, new_ip(), 8080, cluster_name="c1", weight=20000)
    assert c.list_naming_instance(svc)["hosts"] == []

    status, body, _ = raw(server, "POST", "/nacos/v1/ns/instance",
                          {"serviceName": svc, "ip": new_ip(), "port": 8080, "weight": 20000})
    assert status == 400 and "The weights range from 0.0 to 10000.0" in body, (status, body)


def test_raw_missing_service_name_is_400(server):
    status, body, _ = raw(server, "POST", "/nacos/v1/ns/instance",
                          {"ip": "10.255.0.1", "port": 8080})
    assert status == 400, (status, body)
    assert "Param 'serviceName' is required." in body, body


def test_raw_register_answers_plain_ok_for_query_and_form(server, nacos_client):
    svc = unique("v1-raw")
    ip1, ip2 = new_ip(), new_ip()
    status, body, ctype = raw(server, "POST", "/nacos/v1/ns/instance",
                              {"serviceName": svc, "ip": ip1, "port": 8080, "clusterName": "c1"})
    assert (status, body) == (200, "ok"), (status, body)
    assert ctype.startswith("text/plain"), ctype
    # 0.1.x SDKs sent the same parameters as a form body
    status, body, _ = raw(server, "POST", "/nacos/v1/ns/instance",
                          form={"serviceName": svc, "ip": ip2, "port": "8080",
                                "clusterName": "c1", "metadata": "k1=v1,k2=v2"})
    assert (status, body) == (200, "ok"), (status, body)
    res = nacos_client().list_naming_instance(svc)
    assert eps(res) == sorted([(ip1, 8080), (ip2, 8080)]), dump(res)
    assert by_ep(res)[(ip2, 8080)]["metadata"] == {"k1": "v1", "k2": "v2"}, dump(res)

    status, body, ctype = raw(server, "GET", "/nacos/v1/ns/instance/list", {"serviceName": svc})
    assert status == 200 and ctype.startswith("application/json"), (status, ctype, body)


def test_raw_light_beat(server, nacos_client):
    """What scripts/bench-v1/beat.lua sends: serviceName, ip, port, no beat JSON, no
    clusterName (2.x matches ip:port + service, so a c1 instance is found)."""
    c = nacos_client()
    svc, ip = unique("v1-light"), new_ip()
    assert c.add_naming_instance(svc, ip, 8080, cluster_name="c1")
    status, body, _ = raw(server, "PUT", "/nacos/v1/ns/instance/beat",
                          {"serviceName": svc, "ip": ip, "port": 8080})
    assert status == 200, (status, body)
    assert json.loads(body).get("code") == 10200, body

    # a light beat for an unknown instance: HTTP 200, code 20404, nothing is created
    stranger = new_ip()
    status, body, _ = raw(server, "PUT", "/nacos/v1/ns/instance/beat",
                          {"serviceName": svc, "ip": stranger, "port": 8080})
    assert status == 200 and json.loads(body).get("code") == 20404, (status, body)
    assert eps(c.list_naming_instance(svc)) == [(ip, 8080)]
