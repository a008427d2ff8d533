"""Auth with nacos-sdk-python 3.x: a server started with `--auth on` and its first admin
password from REGISTRAR_ADMIN_PASSWORD. The SDK logs in over HTTP (/nacos/v1/auth/users/login)
and sends `accessToken` in every gRPC request's headers."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from interop_support import (PyClients, Recorder, RegistrarServer, async_wait_for_event, async_wait_until,
                             endpoints, http, py_list_param, py_register_param, py_subscribe_param, run_async,
                             unique)

ADMIN_PASSWORD = "interop-admin-pass"


@pytest.fixture(scope="module")
def auth_server(interop_dir, sdk_dir):
    srv = RegistrarServer(interop_dir, name="auth", extra_args=["--auth", "on"],
                          extra_env={"REGISTRAR_ADMIN_PASSWORD": ADMIN_PASSWORD})
    srv.start()
    yield srv
    srv.stop()


def login(server, username, password):
    status, body = http(server, "POST", "/nacos/v1/auth/login", {"username": username, "password": password})
    assert status == 200, body
    return json.loads(body)["accessToken"]


def test_credentialed_client_registers_subscribes_and_gets_pushes(auth_server, sdk_dir):
    svc = unique("auth-push")
    rec = Recorder("subscriber")

    async def scenario():
        async with PyClients(auth_server, sdk_dir) as pc:
            publisher = await pc.new(username="nacos", password=ADMIN_PASSWORD)
            subscriber = await pc.new(username="nacos", password=ADMIN_PASSWORD)
            await subscriber.subscribe(py_subscribe_param(svc, rec.py_callback))
            assert await publisher.register_instance(py_register_param(svc, "10.7.0.1", 80))
            await async_wait_for_event(rec, lambda ev: ev == [("10.7.0.1", 80)], "push under --auth on")

    run_async(scenario())


def test_client_without_credentials_is_refused_and_registers_nothing(auth_server, sdk_dir):
    svc = unique("auth-anon")

    async def scenario():
        async with PyClients(auth_server, sdk_dir) as pc:
            anonymous = await pc.new()
            try:
                registered = await anonymous.register_instance(py_register_param(svc, "10.7.0.2", 80))
            except Exception as error:  # noqa: BLE001 - the SDK raises NacosException on errorCode 403
                registered = False
                assert "403" in str(error) or "permission" in str(error).lower() or "token" in str(error).lower(), \
                    f"unexpected refusal: {error!r}"
            assert not registered

    run_async(scenario())
    token = login(auth_server, "nacos", ADMIN_PASSWORD)
    status, body = http(auth_server, "GET", "/nacos/v1/ns/instance/list", {"serviceName": svc}, token)
    assert status == 200 and json.loads(body)["hosts"] == [], body


def test_read_only_user_can_list_but_not_register(auth_server, sdk_dir):
    svc = unique("auth-ro")
    admin = login(auth_server, "nacos", ADMIN_PASSWORD)
    user = unique("viewer")
    for path, params in [("/nacos/v1/auth/users", {"username": user, "password": "viewer-pass-1"}),
                         ("/nacos/v1/auth/roles", {"role": "ro-" + user, "username": user}),
                         ("/nacos/v1/auth/permissions", {"role": "ro-" + user, "resource": "public:*:*", "action": "r"})]:
        status, body = http(auth_server, "POST", path, params, admin)
        assert status == 200, f"{path}: {body}"
    status, body = http(auth_server, "POST", "/nacos/v1/ns/instance",
                        {"serviceName": svc, "ip": "10.7.0.3", "port": "80"}, admin)
    assert status == 200, body

    async def scenario():
        async with PyClients(auth_server, sdk_dir) as pc:
            viewer = await pc.new(username=user, password="viewer-pass-1")
            hosts = await async_wait_until(lambda: viewer.list_instances(py_list_param(svc, subscribe=False)),
                                           lambda hs: endpoints(hs) == [("10.7.0.3", 80)],
                                           "the read-only user lists the instance")
            assert hosts
            try:
                registered = await viewer.register_instance(py_register_param(svc, "10.7.0.4", 80))
            except Exception:  # noqa: BLE001
                registered = False
            assert not registered, "a user with only 'r' registered an instance"

    run_async(scenario())


def test_user_agent_nacos_server_is_no_identity(auth_server):
    request = urllib.request.Request(
        f"http://{auth_server.addr}/nacos/v1/ns/instance?serviceName=x&ip=10.7.0.9&port=1", data=b"", method="POST",
        headers={"User-Agent": "Nacos-Server"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_cli_logs_in_from_the_environment_and_is_refused_without(auth_server):
    import subprocess
    from interop_support import resolve_binary
    svc = unique("auth-cli")
    admin = login(auth_server, "nacos", ADMIN_PASSWORD)
    status, body = http(auth_server, "POST", "/nacos/v1/ns/instance",
                        {"serviceName": svc, "ip": "10.7.1.1", "port": "81"}, admin)
    assert status == 200, body
    command = [str(resolve_binary()), "instances", svc, "--server", auth_server.addr]
    env = RegistrarServer.clean_environment()
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "403" in refused.stderr, (refused.returncode, refused.stderr)
    env.update({"REGISTRAR_USERNAME": "nacos", "REGISTRAR_PASSWORD": ADMIN_PASSWORD})
    served = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert served.returncode == 0 and "10.7.1.1" in served.stdout, (served.returncode, served.stdout, served.stderr)


def test_cli_with_a_username_but_no_password_fails_clearly(auth_server):
    import subprocess
    from interop_support import resolve_binary
    env = RegistrarServer.clean_environment()
    env["REGISTRAR_USERNAME"] = "nacos"
    out = subprocess.run([str(resolve_binary()), "instances", "any", "--server", auth_server.addr], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "REGISTRAR_PASSWORD" in out.stderr, (out.returncode, out.stderr)


def test_cli_http_steps_log_in_too(auth_server):
    import subprocess
    from interop_support import resolve_binary
    env = RegistrarServer.clean_environment()
    env.update({"REGISTRAR_USERNAME": "nacos", "REGISTRAR_PASSWORD": ADMIN_PASSWORD})
    out = subprocess.run([str(resolve_binary()), "cluster", "--server", auth_server.addr], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "UP" in out.stdout, (out.returncode, out.stdout, out.stderr)


def test_v3_admin_api_needs_an_admin_token_and_probes_need_none(auth_server):
    admin = login(auth_server, "nacos", ADMIN_PASSWORD)
    user = unique("v3-viewer")
    status, body = http(auth_server, "POST", "/nacos/v1/auth/users",
                        {"username": user, "password": "viewer-pass-2"}, admin)
    assert status == 200, body
    viewer = login(auth_server, user, "viewer-pass-2")
    path = "/nacos/v3/admin/core/namespace/list"
    for token in (None, viewer):
        status, body = http(auth_server, "GET", path, {}, token)
        answer = json.loads(body)
        assert (status, answer["code"]) == (403, 10001), (token is None, body)
    status, body = http(auth_server, "GET", path, {}, admin)
    assert status == 200 and json.loads(body)["data"][0]["namespace"] == "public", body
    # A v2 write is a naming write: refused without a token, in the v2 envelope.
    svc = unique("auth-v2")
    status, body = http(auth_server, "POST", "/nacos/v2/ns/instance", {"serviceName": svc, "ip": "10.7.0.9",
                                                                        "port": "80"})
    assert (status, json.loads(body)["code"]) == (403, 10001), body
    status, body = http(auth_server, "POST", "/nacos/v2/ns/instance",
                        {"serviceName": svc, "ip": "10.7.0.9", "port": "80"}, admin)
    assert status == 200 and json.loads(body)["data"] == "ok", body
    for probe in ("/nacos/v3/admin/core/state/liveness", "/nacos/v3/admin/core/state/readiness"):
        status, body = http(auth_server, "GET", probe, {})
        assert status == 200 and json.loads(body)["data"] == "ok", (probe, body)
