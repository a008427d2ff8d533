#!/usr/bin/env python3
"""Extracts the fuzz seed corpus from the wire traces of real clients (nacos-sdk-python 3.x and
1.0.0, the Rust SDK): every client → server gRPC body into Fuzz/corpus/json/, and every v1
request's parameters, form-encoded, into Fuzz/corpus/v1/. `registrar-fuzz seeds` then derives the
payload, cluster and grpc seeds from the json ones. Run once when the traces change:

    python3 scripts/fuzz-seeds.py ../shared/reference/traces
"""
import hashlib
import json
import pathlib
import re
import sys
from urllib.parse import urlencode

HEADING = re.compile(r"^### #\d+ .*client → server\s+`([^`]+)`")


def blocks_after_headings(text):
    """(heading title, label, first json block) for each client → server step."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = HEADING.match(line)
        if not m:
            continue
        label = ""
        for j in range(i + 1, min(i + 8, len(lines))):
            if lines[j].startswith("query params:"):
                label = "query"
            if lines[j].startswith("```json"):
                end = lines.index("```", j + 1)
                yield m.group(1), label, "\n".join(lines[j + 1:end])
                break


def write(directory, name, data: bytes):
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (directory / f"{name}-{digest}").write_bytes(data)


def main(traces, out):
    count = 0
    for trace in sorted(pathlib.Path(traces).glob("*.md")):
        for title, label, body in blocks_after_headings(trace.read_text()):
            if label == "query":
                params = json.loads(body)
                write(out / "v1", title.split()[0].lower(), urlencode(params).encode())
            elif " " not in title:
                json.loads(body)
                write(out / "json", title, body.encode())
            count += 1
    print(f"{count} seeds from {traces} into {out}")


if __name__ == "__main__":
    main(sys.argv[1], pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "Fuzz/corpus"))
