"""Protected mode (`--auth auto`, the default) seen from a peer that is not on loopback: a
network namespace this test makes itself, joined to the host by a veth pair. The server binds
only the host end of that pair, so nothing outside the test can reach it.

Until an admin password exists every non-loopback peer gets a 403 that says how to set one;
once one exists (REGISTRAR_ADMIN_PASSWORD at start), the same peer logs in and is served.
Needs root (ip netns); skipped where the machine does not allow it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from interop_support import RegistrarServer, unique

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("curl"),
                                reason="needs root, iproute2 and curl for a network namespace")


def run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=20, check=check)


@pytest.fixture(scope="module")
def namespace():
    """A namespace `ns` with 10.213.N.2 inside, the host end 10.213.N.1; removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    name, host_if, ns_if = f"reg-{tag}", f"rh{tag}", f"rn{tag}"
    octet = int(tag[:2], 16) % 250 + 1
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    try:
        run("ip", "netns", "add", name)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot make a network namespace here: {error.stderr.strip()}")
    try:
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        run("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, host_ip
    finally:
        run("ip", "link", "del", host_if, check=False)
        run("ip", "netns", "del", name, check=False)


def curl_from(namespace_name, method, url, data=None):
    """(status, body) of one request made from inside the namespace."""
    cmd = ["ip", "netns", "exec", namespace_name, "curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}",
           "-X", method, url]
    if data:
        cmd += ["--data", data]
    out = run(*cmd).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def test_a_peer_off_loopback_is_refused_until_an_admin_exists(namespace, interop_dir):
    name, host_ip = namespace
    server = RegistrarServer(interop_dir, name="protected", host=host_ip)
    server.start()
    try:
        base = f"http://{host_ip}:{server.port}"
        status, body = curl_from(name, "POST", f"{base}/nacos/v1/ns/instance?serviceName=x&ip=10.1.1.1&port=1")
        assert status == 403 and "protected mode" in body and "REGISTRAR_ADMIN_PASSWORD" in body, body
        # The first-admin call is for the server's own host only.
        status, body = curl_from(name, "POST", f"{base}/nacos/v3/auth/user/admin", "password=not-from-afar-1")
        assert status == 403, body
        status, _ = curl_from(name, "GET", f"{base}/nacos/v1/console/health/readiness")
        assert status == 200, "probes stay open"
    finally:
        server.stop()


def test_once_an_admin_exists_the_same_peer_logs_in_and_is_served(namespace, interop_dir):
    name, host_ip = namespace
    server = RegistrarServer(interop_dir, name="protected-admin", host=host_ip,
                             extra_env={"REGISTRAR_ADMIN_PASSWORD": "far-admin-pass"})
    server.start()
    try:
        base = f"http://{host_ip}:{server.port}"
        status, body = curl_from(name, "POST", f"{base}/nacos/v1/auth/login", "username=nacos&password=far-admin-pass")
        assert status == 200, body
        token = json.loads(body)["accessToken"]
        svc = unique("far")
        status, body = curl_from(name, "POST",
                                 f"{base}/nacos/v1/ns/instance?serviceName={svc}&ip=10.1.1.2&port=2&accessToken={token}")
        assert (status, body) == (200, "ok"), body
        status, body = curl_from(name, "GET", f"{base}/nacos/v1/ns/instance/list?serviceName={svc}")
        assert status == 403, "without a token the peer is refused"
    finally:
        server.stop()
