"""The web console (`/nacos/` on the main port) in a real browser: headless Chromium driven by
Selenium, against a server started with `--auth on`, while nacos-sdk-python 3.x registers the
instances the pages show.

Needs Debian's `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver);
without them every test FAILS (CI installs them). Selenium is given both paths, so Selenium
Manager never downloads anything. `REGISTRAR_CONSOLE_ASSETS`, when set, is passed on to the
server (the console's files are then read from that directory instead of the binary).

Every check that a change happened is made against the server (the v1 instance list or the
console API), not only against the page. Screenshots of each test's last page land in
<basetemp>/registrar-interop0/console-screenshots/.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from interop_support import PyClients, RegistrarServer, http, py_register_param, unique, wait_until

ADMIN_PASSWORD = "console-admin-pass"
VIEWER_PASSWORD = "viewer-pass-1"
UI_TIMEOUT = 10.0   # each wait for the page, in seconds
TOKEN_KEY = "registrar.accessToken"   # where console.js keeps the token (sessionStorage)


# ------------------------------------------------------------------------------ server and HTTP

@pytest.fixture(scope="module")
def console_server(interop_dir, sdk_dir):
    env = {"REGISTRAR_ADMIN_PASSWORD": ADMIN_PASSWORD}
    if os.environ.get("REGISTRAR_CONSOLE_ASSETS"):
        env["REGISTRAR_CONSOLE_ASSETS"] = os.environ["REGISTRAR_CONSOLE_ASSETS"]
    srv = RegistrarServer(interop_dir, name="console", extra_args=["--auth", "on"], extra_env=env)
    srv.start()
    yield srv
    srv.stop()


def login_token(server, username, password):
    status, body = http(server, "POST", "/nacos/v3/auth/user/login", {"username": username, "password": password})
    assert status == 200, body
    return json.loads(body)["accessToken"]


def v1_hosts(server, token, service):
    """The server's own answer: {"ip:port": host} from the v1 instance list."""
    status, body = http(server, "GET", "/nacos/v1/ns/instance/list",
                        {"serviceName": service, "namespaceId": "public"}, token)
    assert status == 200, body
    return {f"{h['ip']}:{h['port']}": h for h in json.loads(body)["hosts"]}


def console_instances(server, token, service):
    """{"ip:port": instance} from the console's instance list (it shows disabled ones too)."""
    status, body = http(server, "GET", "/nacos/v3/console/ns/instance/list",
                        {"namespaceId": "public", "groupName": "DEFAULT_GROUP", "serviceName": service}, token)
    assert status == 200, body
    return {f"{i['ip']}:{i['port']}": i for i in json.loads(body)["data"]}


@pytest.fixture(scope="module")
def admin_token(console_server):
    return login_token(console_server, "nacos", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def viewer(console_server, admin_token):
    """A user that may read, not change, the public namespace (docs/security.md)."""
    user = unique("viewer")
    for path, params in [("/nacos/v1/auth/users", {"username": user, "password": VIEWER_PASSWORD}),
                         ("/nacos/v1/auth/roles", {"role": "ro-" + user, "username": user}),
                         ("/nacos/v1/auth/permissions", {"role": "ro-" + user, "resource": "public:*:*",
                                                         "action": "r"})]:
        status, body = http(console_server, "POST", path, params, admin_token)
        assert status == 200, f"{path}: {body}"
    return user


# ------------------------------------------------------------------------------ SDK on its own loop

class SdkLoop:
    """nacos-sdk-python clients on an asyncio loop of their own thread, so they stay connected
    (and their ephemeral instances registered) while the main thread blocks in Selenium."""

    def __init__(self, server, sdk_dir):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sdk-loop", daemon=True)
        self.thread.start()
        self.clients = PyClients(server, sdk_dir)

    def run(self, coro, timeout=60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def register(self, service, ip, port, **kw):
        """A new admin client (one instance per client and service) registering ip:port."""
        async def go():
            client = await self.clients.new(username="nacos", password=ADMIN_PASSWORD)
            assert await client.register_instance(py_register_param(service, ip, port, **kw))
            return client
        return self.run(go())

    def close(self):
        try:
            self.run(self.clients.__aexit__(None, None, None), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)


@pytest.fixture
def sdk(console_server, sdk_dir):
    loop = SdkLoop(console_server, sdk_dir)
    yield loop
    loop.close()


# ------------------------------------------------------------------------------ the browser

def _browser_paths():
    chrome = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        pytest.fail("the console tests need Chromium and its driver: `apt-get install chromium chromium-driver` "
                    f"(found browser={chrome}, chromedriver={driver})", pytrace=False)
    return chrome, driver


@pytest.fixture(scope="module")
def screenshot_dir(interop_dir):
    d = interop_dir / "console-screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def browser(request, screenshot_dir):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -r Tests/Interop/requirements.txt", pytrace=False)
    chrome, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    yield driver
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)[:80]
    try:
        driver.save_screenshot(str(screenshot_dir / f"{name}.png"))
    finally:
        driver.quit()


def page_state(driver):
    """What the page shows now, for failure messages."""
    from selenium.webdriver.common.by import By
    try:
        error = driver.find_element(By.ID, "error")
        shown = error.text if error.is_displayed() else "<no error shown>"
        view = driver.find_element(By.ID, "view").text[:1500]
        logs = [entry["message"] for entry in driver.get_log("browser")][-15:]
        return f"url={driver.current_url}\nerror banner: {shown}\nview:\n{view}\nbrowser log: {logs}"
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return f"<page state unavailable: {e}>"


def wait_for(driver, condition, desc, timeout=UI_TIMEOUT):
    """condition(driver) until truthy (stale elements count as 'not yet'); an AssertionError with
    what the page shows when the time is up."""
    from selenium.common.exceptions import (ElementClickInterceptedException, NoSuchElementException,
                                            StaleElementReferenceException, TimeoutException)
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException, ElementClickInterceptedException)).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {desc}\n{page_state(driver)}") from None


def visible(css):
    from selenium.webdriver.common.by import By

    def probe(driver):
        found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return found[0] if found else False
    return probe


def click(driver, css, desc=None):
    """Find and click, again if a live refresh replaced the element in between."""
    def probe(d):
        element = visible(css)(d)
        if not element:
            return False
        element.click()
        return True
    return wait_for(driver, probe, desc or f"click {css}")


def row_css(kind, key):
    return f'tr[data-{kind}="{key}"]'


def cell_text(driver, css):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def log_in(driver, server, username, password):
    """Through the login form, as a user would; returns when the landing page has loaded."""
    from selenium.webdriver.common.by import By
    driver.get(f"http://{server.addr}/nacos/")
    wait_for(driver, visible("#login-form"), "the login form")
    for field, value in (("username", username), ("password", password)):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, visible('#view[data-view]'), f"the console after logging in as {username}")


def open_service(driver, server, service):
    query = urllib.parse.urlencode({"namespaceId": "public", "groupName": "DEFAULT_GROUP", "serviceName": service})
    driver.get(f"http://{server.addr}/nacos/#/service?{query}")
    wait_for(driver, visible('#view[data-view="service"]'), f"the page of {service}")


# ------------------------------------------------------------------------------ scenarios

def test_admin_logs_in_through_the_form_and_lands_on_public_services(console_server, browser):
    from selenium.webdriver.common.by import By
    log_in(browser, console_server, "nacos", ADMIN_PASSWORD)
    wait_for(browser, visible('#view[data-view="services"]'), "the services page as the landing page")
    assert browser.find_element(By.CSS_SELECTOR, "#view h1").text == "Services"
    assert browser.find_element(By.ID, "namespace-select").get_attribute("value") == "public"
    token = browser.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}')")
    assert token and token.count(".") == 2, f"no JWT in sessionStorage: {token!r}"
    assert "nacos" in browser.find_element(By.ID, "whoami").text
    assert browser.find_element(By.ID, "logout").is_displayed()
    # the live feed is open, and its first rates event filled the header widget
    wait_for(browser, visible('#live[data-state="on"]'), "the live indicator to say live")
    wait_for(browser, lambda d: cell_text(d, "#rate-connections").isdigit(), "the rates widget to show numbers")
    assert browser.find_element(By.ID, "login-view").is_displayed() is False


def test_services_page_shows_a_new_service_live_without_a_reload(console_server, browser, sdk):
    service = unique("console-live")
    log_in(browser, console_server, "nacos", ADMIN_PASSWORD)
    wait_for(browser, visible('#live[data-state="on"]'), "the live feed")
    browser.execute_script("window.__marker = 1")
    sdk.register(service, "10.21.0.1", 8080)
    row = row_css("service", f"DEFAULT_GROUP@@{service}")
    wait_for(browser, visible(row), f"{service} to appear on the services page (pushed by the change event)")
    wait_for(browser, lambda d: cell_text(d, f'{row} [data-field="instances"]') == "1", "1 instance in the row")
    assert cell_text(browser, f'{row} [data-field="healthy"]') == "1"
    assert browser.execute_script("return window.__marker") == 1, "the page was reloaded"


def test_edit_weight_and_disable_through_the_ui_change_the_server(console_server, browser, sdk, admin_token):
    from selenium.webdriver.common.by import By
    service = unique("console-weight")
    sdk.register(service, "10.22.0.1", 8080)
    log_in(browser, console_server, "nacos", ADMIN_PASSWORD)
    open_service(browser, console_server, service)
    row = row_css("instance", "10.22.0.1:8080")
    wait_for(browser, visible(row), "the instance row")

    def set_weight(value):
        click(browser, f"{row} .edit-weight")
        field = wait_for(browser, visible(f"{row} .weight-input"), "the inline weight input")
        field.clear()
        field.send_keys(value)
        browser.find_element(By.CSS_SELECTOR, f"{row} .save-weight").click()

    # The server's refusal is shown, with its own message.
    set_weight("20000")
    banner = wait_for(browser, visible("#error"), "the error banner for an out-of-range weight")
    assert "weight" in banner.text.lower(), banner.text
    assert v1_hosts(console_server, admin_token, service)["10.22.0.1:8080"]["weight"] == 1.0

    set_weight("3.5")
    wait_until(lambda: v1_hosts(console_server, admin_token, service).get("10.22.0.1:8080", {}).get("weight"),
               lambda w: w == 3.5, "weight 3.5 in the server's v1 list")
    wait_for(browser, lambda d: cell_text(d, f'{row} [data-field="weight"]') == "3.5", "3.5 on the page")

    # Disable: clients no longer get it, but the console still lists it, so that it can be enabled again.
    click(browser, f"{row} .toggle-enabled")
    wait_until(lambda: console_instances(console_server, admin_token, service).get("10.22.0.1:8080", {}),
               lambda i: i.get("enabled") is False, "the instance disabled, and still in the console's list")
    assert "10.22.0.1:8080" not in v1_hosts(console_server, admin_token, service), "v1 lists a disabled instance"
    wait_for(browser, lambda d: cell_text(d, f'{row} [data-field="enabled"]') == "no", "'no' under Enabled")
    assert cell_text(browser, f"{row} .toggle-enabled") == "Enable"
    click(browser, f"{row} .toggle-enabled")
    host = wait_until(lambda: v1_hosts(console_server, admin_token, service).get("10.22.0.1:8080"),
                      lambda h: h is not None, "the instance enabled again, back in the v1 list")
    assert host["weight"] == 3.5 and host["enabled"] is True, f"the toggle lost a field: {host}"
    wait_for(browser, lambda d: cell_text(d, f'{row} [data-field="enabled"]') == "yes", "'yes' under Enabled")


def test_deregister_through_the_ui_removes_the_row_and_the_instance(console_server, browser, admin_token):
    # Persistent instances, registered over HTTP: the server owns them, so a deregistration removes them.
    from selenium.webdriver.common.by import By
    service = unique("console-dereg")
    for ip in ("10.23.0.1", "10.23.0.2"):
        status, body = http(console_server, "POST", "/nacos/v2/ns/instance",
                            {"serviceName": service, "ip": ip, "port": "8080", "ephemeral": "false"}, admin_token)
        assert status == 200, body
    log_in(browser, console_server, "nacos", ADMIN_PASSWORD)
    open_service(browser, console_server, service)
    gone, kept = row_css("instance", "10.23.0.1:8080"), row_css("instance", "10.23.0.2:8080")
    wait_for(browser, lambda d: visible(gone)(d) and visible(kept)(d), "both instance rows")
    click(browser, f"{gone} .deregister")
    click(browser, f"{gone} .confirm-deregister")
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, gone), "the deregistered row to disappear")
    assert browser.find_elements(By.CSS_SELECTOR, kept), "the other instance's row went too"
    assert not browser.find_element(By.ID, "error").is_displayed(), browser.find_element(By.ID, "error").text
    hosts = wait_until(lambda: v1_hosts(console_server, admin_token, service), lambda h: "10.23.0.1:8080" not in h,
                       "the instance gone from the server's v1 list")
    assert list(hosts) == ["10.23.0.2:8080"], hosts


def test_deregistering_an_sdk_clients_instance_is_refused_with_the_servers_reason(
        console_server, browser, sdk, admin_token):
    # An ephemeral instance belongs to the SDK connection that registered it: the server refuses the
    # console's deregistration (409) and says why, the page shows that reason, and the instance stays.
    from selenium.webdriver.common.by import By
    service = unique("console-dereg-sdk")
    sdk.register(service, "10.23.1.1", 8080)
    log_in(browser, console_server, "nacos", ADMIN_PASSWORD)
    open_service(browser, console_server, service)
    row = row_css("instance", "10.23.1.1:8080")
    wait_for(browser, visible(row), "the instance row")
    click(browser, f"{row} .deregister")
    click(browser, f"{row} .confirm-deregister")
    wait_for(browser, visible("#error"), "the server's refusal shown")
    assert "registered by a connected SDK client" in browser.find_element(By.ID, "error").text
    assert "10.23.1.1:8080" in v1_hosts(console_server, admin_token, service)
    assert browser.find_elements(By.CSS_SELECTOR, row), "the row went although the instance stayed"


def test_read_only_user_sees_no_edit_controls_and_the_server_refuses_a_forced_edit(
        console_server, browser, sdk, admin_token, viewer):
    from selenium.webdriver.common.by import By
    service = unique("console-ro")
    sdk.register(service, "10.24.0.1", 8080)
    log_in(browser, console_server, viewer, VIEWER_PASSWORD)
    assert "read-only" in browser.find_element(By.ID, "whoami").text
    open_service(browser, console_server, service)
    row = row_css("instance", "10.24.0.1:8080")
    wait_for(browser, visible(row), "the instance row for the read-only user")
    for control in (".edit-weight", ".toggle-enabled", ".deregister", ".confirm-deregister"):
        assert browser.find_elements(By.CSS_SELECTOR, control) == [], f"a read-only user is shown {control}"
    # The buttons are only a courtesy: the server itself refuses the viewer's edit.
    form = urllib.parse.urlencode({"namespaceId": "public", "groupName": "DEFAULT_GROUP", "serviceName": service,
                                   "ip": "10.24.0.1", "port": "8080", "clusterName": "DEFAULT",
                                   "ephemeral": "true", "weight": "7", "enabled": "true"})
    status, body = browser.execute_async_script("""
        const [form, key, done] = arguments;
        const token = encodeURIComponent(sessionStorage.getItem(key));
        fetch('/nacos/v3/console/ns/instance?accessToken=' + token, {method: 'PUT', body: form,
              headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
          .then((r) => r.text().then((t) => done([r.status, t])), (e) => done([0, String(e)]));
    """, form, TOKEN_KEY)
    assert status == 403, (status, body)
    assert "permission" in body, body
    assert v1_hosts(console_server, admin_token, service)["10.24.0.1:8080"]["weight"] == 1.0


def test_a_bad_password_on_the_login_form_shows_the_servers_message(console_server, browser):
    from selenium.webdriver.common.by import By
    browser.get(f"http://{console_server.addr}/nacos/")
    wait_for(browser, visible("#login-form"), "the login form")
    browser.find_element(By.ID, "username").send_keys("nacos")
    browser.find_element(By.ID, "password").send_keys("not-the-password")
    browser.find_element(By.ID, "login-submit").click()
    banner = wait_for(browser, visible("#error"), "the error banner after a bad password")
    assert "invalid username or password" in banner.text, banner.text
    assert browser.find_element(By.ID, "login-form").is_displayed()
    assert not browser.find_element(By.ID, "view").is_displayed()
    assert browser.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}')") is None
