"""Client processes of the cluster chaos suite (test_chaos.py): nacos-sdk-python 3.x inside a
member's network namespace, driven one JSON line at a time, and the made-up endpoints they
register."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Sequence, Set

from chaos_support import Endpoint, run
from interop_support import die_with_parent, kill_and_reap, scrub_nacos_env, tail_file

# --------------------------------------------------------------------------------------
# client processes (nacos-sdk-python 3.x, one gRPC connection per instance)
# --------------------------------------------------------------------------------------

CLIENT_SCRIPT = r'''
"""A chaos client: reads one JSON command a line, answers one JSON line. Each registered instance
has its own NacosNamingService (its own gRPC connection), so "held" is exactly the instances whose
connection is alive; a failed register or deregister shuts that connection down."""
import asyncio, json, logging, os, sys
from unittest import mock
from v2.nacos import ClientConfigBuilder, NacosNamingService, RegisterInstanceParam, DeregisterInstanceParam

servers, service, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
held = {}   # "ip:port" -> naming service

def config():
    return (ClientConfigBuilder().server_address(servers)
            .log_dir(os.path.join(workdir, "py-logs")).cache_dir(os.path.join(workdir, "py-cache"))
            .load_cache_at_start(False).log_level(logging.INFO).build())

async def reg(ip, port):
    # the SDK starts at randrange(n)+1 of its list; hi-1 makes it start at the first entry
    with mock.patch("v2.nacos.transport.nacos_server_connector.randrange", lambda lo, hi: hi - 1):
        client = await asyncio.wait_for(NacosNamingService.create_naming_service(config()), 20)
    try:
        ok = await asyncio.wait_for(client.register_instance(RegisterInstanceParam(
            service_name=service, ip=ip, port=port, ephemeral=True, enabled=True, healthy=True)), 10)
    except Exception as e:
        ok = repr(e)
    if ok is not True:
        await asyncio.wait_for(client.shutdown(), 10)
        return {"ok": False, "error": str(ok)}
    held[f"{ip}:{port}"] = client
    return {"ok": True}

async def dereg(ip, port):
    client = held.pop(f"{ip}:{port}")
    try:
        ok = await asyncio.wait_for(client.deregister_instance(DeregisterInstanceParam(
            service_name=service, ip=ip, port=port, ephemeral=True)), 10)
    except Exception as e:
        ok = repr(e)
    await asyncio.wait_for(client.shutdown(), 10)   # either way this instance is no longer held
    return {"ok": ok is True, "error": None if ok is True else str(ok)}

def replayed(redo):
    """Connected, and every registration of this connection replayed (none waits for redo)."""
    pending = [d for d in redo._redo_data_map.get("InstanceRedoData", {}).values() if d.is_need_redo()]
    return bool(redo._connected) and not pending

def status():
    out = {}
    for key, client in held.items():
        info = client.grpc_client_proxy.rpc_client.get_current_server()
        out[key] = {"server": info.server_ip if info else None,
                    "redo": replayed(client.grpc_client_proxy.redo_service)}
    return {"ok": True, "held": out}

async def redo_timer():
    # nacos-sdk-python 3.2.0 replays registrations after a reconnect only from a 30 s timer: its
    # redo loop waits on a queue that only start_redo_task() feeds, and the SDK never calls it.
    # Feed it every 3 s, as the Java SDK's redo timer runs (see test_cluster.py for the same).
    while True:
        await asyncio.sleep(3)
        for client in list(held.values()):
            await client.grpc_client_proxy.redo_service.start_redo_task()

async def main():
    loop = asyncio.get_running_loop()
    timer = asyncio.create_task(redo_timer())
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            os._exit(0)
        cmd = json.loads(line)
        try:
            if cmd["op"] == "reg":
                out = await reg(cmd["ip"], cmd["port"])
            elif cmd["op"] == "dereg":
                out = await dereg(cmd["ip"], cmd["port"])
            else:
                out = status()
        except Exception as e:
            out = {"ok": False, "error": repr(e)}
        out["id"] = cmd["id"]
        print(json.dumps(out), flush=True)

asyncio.run(main())
'''

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "grpc_proxy")


class ClientProcess:
    """A CLIENT_SCRIPT process inside namespace `ns`, its server list `servers` (its own member
    first). The test keeps `held`: the instances whose register was acknowledged and that were
    not deregistered since."""

    def __init__(self, workdir: Path, name: str, ns: str, servers: Sequence[str], service: str):
        self.name, self.ns = name, ns
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        script = self.dir / "chaos_client.py"
        script.write_text(CLIENT_SCRIPT)
        self.err_path = self.dir / "stderr.log"
        env = {k: v for k, v in scrub_nacos_env().items() if k.lower() not in _PROXY_VARS}
        env["HOME"] = str(self.dir)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                die_with_parent(["ip", "netns", "exec", ns, sys.executable, str(script), ",".join(servers),
                                 service, str(self.dir)]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=str(self.dir))
        self.replies: "queue.Queue[dict]" = queue.Queue()
        self.held: Set[Endpoint] = set()
        self._next = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                self.replies.put(json.loads(raw))
            except ValueError:
                pass

    def call(self, op: str, timeout: float = 30.0, **kw) -> dict:
        """Sends one command and waits (bounded) for its answer."""
        self._next += 1
        self.proc.stdin.write((json.dumps({"op": op, "id": self._next, **kw}) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.replies.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"client {self.name}: no answer to {op} {kw} within {timeout:.0f}s\n"
                                     f"{self.diagnostics()}") from None
            if reply.get("id") == self._next:
                return reply

    def register(self, ep: Endpoint) -> bool:
        """Registers `ep` on a new connection; held only if acknowledged."""
        ok = self.call("reg", ip=ep[0], port=ep[1])["ok"]
        if ok:
            self.held.add(ep)
        return ok

    def deregister(self, ep: Endpoint) -> bool:
        """Deregisters `ep` and closes its connection: no longer held either way."""
        self.held.discard(ep)
        return self.call("dereg", ip=ep[0], port=ep[1])["ok"]

    def status(self) -> Dict[str, dict]:
        return self.call("status", timeout=10)["held"]

    def reconnected(self, live: Set[str]) -> bool:
        """Every held connection is on a member whose ip is in `live`, and its redo has run."""
        return all(s["server"] in live and s["redo"] for s in self.status().values())

    def cut(self) -> None:
        """SIGKILL (no deregister, no FIN handled by the SDK)."""
        kill_and_reap(self.proc)

    def diagnostics(self) -> str:
        log = self.dir / "py-logs" / "naming.log"
        return (f"--- client {self.name} stderr ---\n{tail_file(self.err_path, 20)}\n"
                f"--- client {self.name} naming.log ---\n{tail_file(log, 30)}")


def endpoints(prefix: int, count: int, start: int = 0) -> List[Endpoint]:
    """`count` made-up instance endpoints, distinct per `prefix` (they need not exist)."""
    return [(f"10.99.{prefix}.{i + 1}", 9000 + i) for i in range(start, start + count)]
