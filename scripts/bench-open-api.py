#!/usr/bin/env python3
"""Sequential register+deregister round trips over one keep-alive HTTP connection, through the
v1, v2 and v3 client paths of a running server, interleaved in rounds so that all three see the
same machine load. Prints each path's median per-call time and its ratio to v1.

    scripts/bench-open-api.py 127.0.0.1:8848 [calls-per-round] [rounds]
"""
import http.client
import statistics
import sys
import time
import urllib.parse

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8848"
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 500
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
host, port = address.rsplit(":", 1)
paths = {"v1": "/nacos/v1/ns/instance", "v2": "/nacos/v2/ns/instance", "v3": "/nacos/v3/client/ns/instance"}
connection = http.client.HTTPConnection(host, int(port), timeout=10)
headers = {"Content-Type": "application/x-www-form-urlencoded"}
per_call = {name: [] for name in paths}
for round_number in range(rounds):
    for name, path in paths.items():
        start = time.perf_counter()
        for index in range(calls):
            body = urllib.parse.urlencode({"serviceName": f"bench-{name}", "ip": "10.250.0.1", "port": str(index + 1)})
            for method in ("POST", "DELETE"):
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    sys.exit(f"{method} {path}: HTTP {response.status}")
        per_call[name].append((time.perf_counter() - start) / (calls * 2) * 1e6)
baseline = statistics.median(per_call["v1"])
for name, samples in per_call.items():
    median = statistics.median(samples)
    print(f"{name}: median {median:.0f} µs per call over {rounds} rounds of {calls * 2} calls; "
          f"ratio to v1 {median / baseline:.2f}")
