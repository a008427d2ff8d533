"""Process-level contract of `registrar serve`: readiness and a clean SIGTERM."""
from __future__ import annotations

import asyncio
import time

from interop_support import (STOP_TIMEOUT, PyClients, endpoints, py_list_param,
                             py_register_param, run_async, tcp_accepts, unique)


def test_sigterm_exits_zero_with_connected_clients(server_factory, sdk_dir):
    srv = server_factory("sigterm-target")
    assert tcp_accepts(srv.grpc_port), "SDK gRPC port P+1000 not accepting after readiness"
    svc = unique("lifecycle")

    async def connect_and_stop():
        async with PyClients(srv, sdk_dir) as pc:
            a, b = await pc.new(), await pc.new()
            assert await a.register_instance(py_register_param(svc, "10.9.0.1", 9000))
            hosts = await b.list_instances(py_list_param(svc))
            assert endpoints(hosts) == [("10.9.0.1", 9000)]

            # stop the server while both SDK connections (one with a subscription) are open
            t0 = time.monotonic()
            rc, killed = await asyncio.to_thread(srv.stop, STOP_TIMEOUT)
            elapsed = time.monotonic() - t0
            assert not killed, (f"server ignored SIGTERM for {STOP_TIMEOUT:.0f}s and had to be "
                                f"SIGKILLed\n--- log tail ---\n{srv.log_tail(60)}")
            assert rc == 0, (f"server exited with {rc} on SIGTERM (after {elapsed:.1f}s)\n"
                             f"--- log tail ---\n{srv.log_tail(60)}")
            assert not tcp_accepts(srv.grpc_port), "gRPC port still accepting after exit"

    run_async(connect_and_stop())
