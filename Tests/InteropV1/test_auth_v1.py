"""Auth with nacos-sdk-python 1.0.0 (the v1 HTTP client): against a server started with
`--auth on`, a client with username/password logs in (POST /nacos/v1/auth/login) and sends
`accessToken` with every call; a client without them is refused with 403."""
from __future__ import annotations

import time

import pytest
from nacos import NacosClient, NacosException

from conftest import wait_http_ready
from interop_support import RegistrarServer, unique

ADMIN_PASSWORD = "interop-v1-admin-pass"


@pytest.fixture(scope="module")
def auth_server(v1_dir, sdk_log_dir):
    srv = RegistrarServer(v1_dir, name="auth-v1", extra_args=["--auth", "on"],
                          extra_env={"REGISTRAR_ADMIN_PASSWORD": ADMIN_PASSWORD})
    srv.start()
    wait_http_ready(srv)
    yield srv
    srv.stop()


def test_v1_client_with_credentials_registers_and_lists(auth_server):
    svc = unique("v1-auth")
    client = NacosClient(auth_server.addr, username="nacos", password=ADMIN_PASSWORD)
    assert client.add_naming_instance(svc, "10.8.0.1", 80) is True
    deadline = time.monotonic() + 10
    hosts = []
    while time.monotonic() < deadline:
        hosts = client.list_naming_instance(svc)["hosts"]
        if hosts:
            break
        time.sleep(0.2)
    assert [(h["ip"], h["port"]) for h in hosts] == [("10.8.0.1", 80)]


def test_v1_client_without_credentials_is_refused(auth_server):
    svc = unique("v1-anon")
    client = NacosClient(auth_server.addr)
    with pytest.raises(NacosException) as refused:
        client.add_naming_instance(svc, "10.8.0.2", 80)
    assert "Insufficient privilege" in str(refused.value)  # how 1.0.0 reports an HTTP 403
    admin = NacosClient(auth_server.addr, username="nacos", password=ADMIN_PASSWORD)
    assert admin.list_naming_instance(svc)["hosts"] == []


def test_v1_client_with_a_wrong_password_cannot_start(auth_server):
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises whatever urllib raised at login
        NacosClient(auth_server.addr, username="nacos", password="not-the-password")
