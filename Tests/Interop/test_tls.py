"""TLS with real certificates made by openssl in the test: a throwaway CA, a server certificate
for 127.0.0.1, and a client certificate (nacos-sdk-python 3.x loads one whenever TLS is on).
The server runs with --tls-cert/--tls-key: the SDK registers and gets pushes over TLS, curl
reads the HTTP port over https with the CA, and plaintext is refused on both ports."""
from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from interop_support import (PyClients, Recorder, RegistrarServer, async_wait_for_event, py_register_param,
                             py_subscribe_param, run_async, unique)

pytestmark = pytest.mark.skipif(not shutil.which("openssl") or not shutil.which("curl"),
                                reason="needs openssl and curl")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certificates(directory: Path) -> dict:
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=registrar-test-ca", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in [("server", "server.ext"), ("client", "client.ext")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=registrar-test-{name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=d)
    return {k: str(d / v) for k, v in
            {"ca": "ca.pem", "cert": "server.pem", "key": "server.key",
             "client_cert": "client.pem", "client_key": "client.key"}.items()}


@pytest.fixture(scope="module")
def tls_server(interop_dir, sdk_dir):
    certs = make_certificates(interop_dir / "tls-certs")
    srv = RegistrarServer(interop_dir, name="tls", extra_args=["--tls-cert", certs["cert"], "--tls-key", certs["key"]])
    srv.start()
    yield srv, certs
    srv.stop()


def test_python_sdk_registers_and_gets_pushes_over_tls(tls_server, sdk_dir):
    from v2.nacos.common.client_config import TLSConfig
    server, certs = tls_server
    tls = TLSConfig(enabled=True, ca_file=certs["ca"], cert_file=certs["client_cert"], key_file=certs["client_key"])
    svc = unique("tls")
    rec = Recorder("subscriber over TLS")

    async def scenario():
        async with PyClients(server, sdk_dir) as pc:
            publisher = await pc.new(tls=tls)
            subscriber = await pc.new(tls=tls)
            await subscriber.subscribe(py_subscribe_param(svc, rec.py_callback))
            assert await publisher.register_instance(py_register_param(svc, "10.6.0.1", 80))
            await async_wait_for_event(rec, lambda ev: ev == [("10.6.0.1", 80)], "push over TLS")

    run_async(scenario())


def test_curl_reads_the_http_port_over_https_with_the_ca_and_plain_http_is_refused(tls_server):
    server, certs = tls_server
    url = f"https://127.0.0.1:{server.port}/nacos/v1/console/health/readiness"
    out = subprocess.run(["curl", "-sS", "-m", "5", "--cacert", certs["ca"], url], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr
    plain = subprocess.run(["curl", "-sS", "-m", "5", url.replace("https", "http")], capture_output=True, text=True,
                           timeout=10)
    assert plain.returncode != 0 or "OK" not in plain.stdout, "plain HTTP was served on a TLS port"


def test_a_plaintext_grpc_client_gets_no_http2_answer(tls_server):
    server, _ = tls_server
    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        sock.settimeout(5)
        try:
            answer = sock.recv(64)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    # An HTTP/2 server would answer with its SETTINGS frame (type 4 at byte 3); TLS answers
    # with an alert record (0x15) or closes.
    assert not (len(answer) >= 4 and answer[3] == 4), f"plaintext HTTP/2 was served: {answer!r}"


def test_mutual_tls_serves_a_client_with_a_certificate_and_refuses_one_without(interop_dir, sdk_dir):
    from v2.nacos.common.client_config import TLSConfig
    certs = make_certificates(interop_dir / "mtls-certs")
    server = RegistrarServer(interop_dir, name="mtls", extra_args=[
        "--tls-cert", certs["cert"], "--tls-key", certs["key"], "--tls-client-ca", certs["ca"]])
    server.start()
    try:
        url = f"https://127.0.0.1:{server.port}/nacos/v1/console/health/readiness"
        anonymous = subprocess.run(["curl", "-sS", "-m", "5", "--cacert", certs["ca"], url],
                                   capture_output=True, text=True, timeout=10)
        assert anonymous.returncode != 0, "a client without a certificate was served under mTLS"
        known = subprocess.run(["curl", "-sS", "-m", "5", "--cacert", certs["ca"], "--cert", certs["client_cert"],
                                "--key", certs["client_key"], url], capture_output=True, text=True, timeout=10)
        assert known.returncode == 0 and known.stdout.strip() == "OK", known.stderr
        tls = TLSConfig(enabled=True, ca_file=certs["ca"], cert_file=certs["client_cert"],
                        key_file=certs["client_key"])
        svc = unique("mtls")

        async def scenario():
            async with PyClients(server, sdk_dir) as pc:
                client = await pc.new(tls=tls)
                assert await client.register_instance(py_register_param(svc, "10.6.0.2", 80))

        run_async(scenario())
    finally:
        server.stop()


def test_cli_logs_in_over_https_and_presents_its_client_certificate(interop_dir):
    """--auth on, TLS with a client CA: the CLI's HTTP login, its HTTP verb (cluster) and its SDK
    connection (instances) all go over TLS with --tls-ca and the client certificate."""
    import json
    from interop_support import resolve_binary
    certs = make_certificates(interop_dir / "cli-tls-certs")
    password = "cli-tls-admin-pass"
    server = RegistrarServer(interop_dir, name="cli-tls", extra_args=[
        "--tls-cert", certs["cert"], "--tls-key", certs["key"], "--tls-client-ca", certs["ca"], "--auth", "on"],
        extra_env={"REGISTRAR_ADMIN_PASSWORD": password})
    server.start()
    try:
        base = f"https://127.0.0.1:{server.port}"
        curl = ["curl", "-sS", "-m", "5", "--cacert", certs["ca"], "--cert", certs["client_cert"],
                "--key", certs["client_key"]]
        login = subprocess.run(curl + ["-d", "username=nacos", "-d", f"password={password}",
                                       f"{base}/nacos/v1/auth/login"], capture_output=True, text=True, timeout=10)
        token = json.loads(login.stdout)["accessToken"]
        svc = unique("cli-tls")
        registered = subprocess.run(curl + ["-X", "POST", f"{base}/nacos/v1/ns/instance?serviceName={svc}"
                                            f"&ip=10.6.1.1&port=80&accessToken={token}"],
                                    capture_output=True, text=True, timeout=10)
        assert registered.stdout.strip() == "ok", (registered.stdout, registered.stderr)

        env = RegistrarServer.clean_environment()
        env.update({"REGISTRAR_USERNAME": "nacos", "REGISTRAR_PASSWORD": password})
        tls = ["--server", server.addr, "--tls-ca", certs["ca"]]
        client_cert = ["--tls-cert", certs["client_cert"], "--tls-key", certs["client_key"]]

        def cli(*args):
            return subprocess.run([str(resolve_binary()), *args], env=env, capture_output=True, text=True, timeout=30)

        members = cli("cluster", *tls, *client_cert)
        assert members.returncode == 0 and "UP" in members.stdout, (members.returncode, members.stdout, members.stderr)
        listed = cli("instances", svc, *tls, *client_cert)
        assert listed.returncode == 0 and "10.6.1.1" in listed.stdout, (listed.returncode, listed.stdout, listed.stderr)
        anonymous = cli("cluster", *tls)
        assert anonymous.returncode != 0, f"served without a client certificate: {anonymous.stdout}"
    finally:
        server.stop()


def test_optional_mode_serves_tls_and_plaintext_on_the_same_ports(interop_dir, sdk_dir):
    from v2.nacos.common.client_config import TLSConfig
    certs = make_certificates(interop_dir / "optional-certs")
    server = RegistrarServer(interop_dir, name="tls-optional", extra_args=[
        "--tls-cert", certs["cert"], "--tls-key", certs["key"], "--tls-mode", "optional"])
    server.start()
    try:
        for scheme, extra in [("https", ["--cacert", certs["ca"]]), ("http", [])]:
            url = f"{scheme}://127.0.0.1:{server.port}/nacos/v1/console/health/readiness"
            out = subprocess.run(["curl", "-sS", "-m", "5", *extra, url], capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and out.stdout.strip() == "OK", (scheme, out.stderr)
        tls = TLSConfig(enabled=True, ca_file=certs["ca"], cert_file=certs["client_cert"],
                        key_file=certs["client_key"])
        svc = unique("tls-optional")

        async def scenario():
            async with PyClients(server, sdk_dir) as pc:
                secure = await pc.new(tls=tls)
                plain = await pc.new()
                assert await secure.register_instance(py_register_param(svc, "10.6.0.3", 80))
                assert await plain.register_instance(py_register_param(svc, "10.6.0.4", 80))

        run_async(scenario())
    finally:
        server.stop()
