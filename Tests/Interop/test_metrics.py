"""Prometheus metrics: a scrape of /metrics (and Nacos's /nacos/actuator/prometheus) parses with
prometheus_client's own text parser, and after a known workload from nacos-sdk-python 3.x and v1
HTTP the counters and gauges hold exactly the expected values. The Nacos JSON endpoint reads the
same numbers."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from interop_support import (PyClients, Recorder, RegistrarServer, async_wait_for_event, py_register_param,
                             py_subscribe_param, run_async, unique, wait_until)

REGISTERED = 5      # services registered over gRPC, one instance each
DEREGISTERED = 2    # of those, deregistered again
SUBSCRIBED = 3      # of those, subscribed by a second client


@pytest.fixture
def fresh_server(interop_dir):
    servers = []

    def make(name, extra_args=()):
        srv = RegistrarServer(interop_dir, name=name, extra_args=list(extra_args))
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.stop()


def get(server, path):
    try:
        with urllib.request.urlopen(f"http://{server.addr}{path}", timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()


def post(server, path, params):
    request = urllib.request.Request(f"http://{server.addr}{path}?{urllib.parse.urlencode(params)}", data=b"",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def scrape(server, path="/metrics"):
    """{(name, frozenset(labels)): value} as prometheus_client parses the scrape."""
    status, content_type, text = get(server, path)
    assert status == 200, text
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_a_known_workload_gives_exact_counters_and_gauges(fresh_server, sdk_dir):
    server = fresh_server("metrics")
    services = [unique(f"metrics-{i}") for i in range(REGISTERED)]
    recorders = [Recorder(f"sub-{i}") for i in range(SUBSCRIBED)]

    async def workload():
        async with PyClients(server, sdk_dir) as clients:
            publisher = await clients.new()
            subscriber = await clients.new(update_cache_when_empty=True)
            for i, svc in enumerate(services):
                assert await publisher.register_instance(py_register_param(svc, "10.9.0.1", 8000 + i))
            for svc, rec in zip(services, recorders):
                await subscriber.subscribe(py_subscribe_param(svc, rec.py_callback))
            from v2.nacos import DeregisterInstanceParam
            for i, svc in enumerate(services[:DEREGISTERED]):
                assert await publisher.deregister_instance(DeregisterInstanceParam(
                    service_name=svc, ip="10.9.0.1", port=8000 + i))
            for rec in recorders[:DEREGISTERED]:
                await async_wait_for_event(rec, lambda ev: ev == [], "push of the deregistration")
            # Both clients still connected: the gauges see them.
            assert post(server, "/nacos/v1/ns/instance",
                        {"serviceName": unique("metrics-v1"), "ip": "10.9.1.1", "port": 80,
                         "ephemeral": "false"}) == 200
            assert post(server, "/nacos/v1/ns/instance", {"serviceName": "no-ip-given"}) == 400
            wait_until(lambda: scrape(server),
                       lambda s: value(s, "registrar_pushes_total", transport="grpc", result="acked") == DEREGISTERED,
                       "the deregistration pushes acked")
            return scrape(server), scrape(server, "/nacos/actuator/prometheus"), get(
                server, "/nacos/v1/ns/operator/metrics?onlyStatus=false")

    samples, nacos_path, (_, _, json_text) = run_async(workload())
    assert value(samples, "registrar_requests_total", type="InstanceRequest", result="ok") == \
        REGISTERED + DEREGISTERED
    assert value(samples, "registrar_requests_total", type="InstanceRequest", result="error") == 0
    assert value(samples, "registrar_requests_total", type="SubscribeServiceRequest", result="ok") == SUBSCRIBED
    assert value(samples, "registrar_request_duration_seconds_count", type="InstanceRequest") == \
        REGISTERED + DEREGISTERED
    assert value(samples, "registrar_requests_total", type="POST /nacos/v1/ns/instance", result="ok") == 1
    assert value(samples, "registrar_requests_total", type="POST /nacos/v1/ns/instance", result="error") == 1
    assert value(samples, "registrar_instances", ephemeral="true") == REGISTERED - DEREGISTERED
    assert value(samples, "registrar_instances", ephemeral="false") == 1
    assert value(samples, "registrar_services") == REGISTERED - DEREGISTERED + 1
    assert value(samples, "registrar_subscribers") == SUBSCRIBED
    assert value(samples, "registrar_connections", kind="grpc") == 2
    assert value(samples, "registrar_cluster_members", state="UP") == 1
    assert value(samples, "registrar_pushes_total", transport="grpc", result="sent") == DEREGISTERED
    assert value(samples, "registrar_pushes_total", transport="grpc", result="abandoned") == 0
    assert value(samples, "registrar_push_latency_seconds_count", transport="grpc") == DEREGISTERED
    assert value(samples, "registrar_durable_write_duration_seconds_count") == 1  # the persistent instance
    # Nacos's path serves the same registry (counters only grow between the two scrapes).
    assert value(nacos_path, "registrar_services") == REGISTERED - DEREGISTERED + 1
    # The Nacos JSON endpoint is fed from the same metrics.
    nacos = json.loads(json_text)
    assert nacos["pushesSent"] == DEREGISTERED and nacos["pushesAcked"] == DEREGISTERED, nacos


def test_with_metrics_off_the_scrape_is_empty_and_the_server_still_serves(fresh_server):
    server = fresh_server("metrics-off", ["--metrics", "off"])
    assert post(server, "/nacos/v1/ns/instance",
                {"serviceName": unique("off"), "ip": "10.9.2.1", "port": 80, "ephemeral": "false"}) == 200
    assert scrape(server) == {}
