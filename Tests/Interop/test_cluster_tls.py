"""Mutual TLS between cluster members (--peer-tls-cert/-key/-ca), with certificates made by
openssl in the test: two members sync over it, and a TLS client whose certificate another CA
signed (or that has none) gets no HTTP/2 from the cluster port."""
from __future__ import annotations

import shutil
import socket
import ssl

import pytest

import base64
import os

from cluster_support import Cluster, deltas, endpoints_owned, http, wait_endpoints
from interop_support import unique
from test_tls import make_certificates

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")

CLUSTER_OFFSET = 1001


def h2_answer(port: int, ca: str, cert: str = None, key: str = None) -> bytes:
    """Opens TLS to 127.0.0.1:port with an optional client certificate, sends the HTTP/2
    preface, and returns what comes back (b'' when the peer refuses)."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    if cert:
        context.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
                return tls.recv(64)
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
        return b""


def test_members_sync_over_mutual_tls_and_a_foreign_certificate_is_refused(interop_dir):
    certs = make_certificates(interop_dir / "peer-certs")
    foreign = make_certificates(interop_dir / "foreign-certs")
    cluster = Cluster(interop_dir, "peer-tls", size=2, label="peer-tls", extra=[
        "--peer-tls-cert", certs["cert"], "--peer-tls-key", certs["key"], "--peer-tls-ca", certs["ca"]])
    cluster.start()  # returns once each member has probed the other over TLS and sees it UP
    try:
        svc = unique("peer-tls")
        status, body = http(cluster[0].port, "POST", "/nacos/v1/ns/instance",
                            {"serviceName": svc, "ip": "10.4.4.4", "port": "80"})
        assert status == 200, body
        wait_endpoints(cluster[1], svc, [("10.4.4.4", 80)], cluster)

        port = cluster[0].port + CLUSTER_OFFSET
        member = h2_answer(port, certs["ca"], certs["client_cert"], certs["client_key"])
        assert len(member) >= 4 and member[3] == 4, f"a member's certificate got no SETTINGS: {member!r}"
        stranger = h2_answer(port, certs["ca"], foreign["client_cert"], foreign["client_key"])
        assert not (len(stranger) >= 4 and stranger[3] == 4), "a foreign certificate was served"
        anonymous = h2_answer(port, certs["ca"])
        assert not (len(anonymous) >= 4 and anonymous[3] == 4), "a client without a certificate was served"
    finally:
        cluster.stop()


def test_v1_requests_are_forwarded_over_https_with_the_clients_bearer_token(interop_dir):
    """HTTP TLS, peer mTLS and --auth on: a v1 registration that reaches the member not
    responsible for its ip:port is forwarded over https (trusting the peer CA, presenting the
    peer certificate), with the client's Authorization header, and the responsible member
    accepts it (it would answer 403 without the token)."""
    certs = make_certificates(interop_dir / "forward-certs")
    password = "forward-admin-pass"
    cluster = Cluster(interop_dir, "forward-tls", size=2, label="forward-tls", ca=certs["ca"],
                      admin_password=password, env={"REGISTRAR_ADMIN_PASSWORD": password}, extra=[
                          "--tls-cert", certs["cert"], "--tls-key", certs["key"],
                          "--peer-tls-cert", certs["cert"], "--peer-tls-key", certs["key"],
                          "--peer-tls-ca", certs["ca"], "--auth", "on",
                          "--token-secret", base64.b64encode(os.urandom(32)).decode()])
    cluster.start()
    try:
        entry, other = cluster[0], cluster[1]
        token = cluster.login(entry, "nacos", password)
        svc = unique("forward-tls")
        foreign = endpoints_owned(cluster.addresses, [other.addr] * 3)
        before = cluster.metrics()
        for ip, port in foreign:
            status, body = http(entry.port, "POST", "/nacos/v1/ns/instance",
                                {"serviceName": svc, "ip": ip, "port": str(port)}, ca=certs["ca"],
                                headers={"Authorization": f"Bearer {token}"})
            assert (status, body) == (200, "ok"), (status, body)
        forwarded = deltas(before, cluster.metrics(), "v1Forwarded")
        assert forwarded[entry.addr] == len(foreign), (forwarded, cluster.logs())
        wait_endpoints(entry, svc, sorted(foreign), cluster)
        wait_endpoints(other, svc, sorted(foreign), cluster)
    finally:
        cluster.stop()
