#!/usr/bin/env bash
# Formats the Swift sources with the toolchain's swift-format and the repository's
# .swift-format (120 columns, 4 spaces). `scripts/format.sh --lint` only reports.
# Generated protobuf code is left as protoc wrote it. Long string literals are not split.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find Sources Tests -name '*.swift' -not -path '*/Generated/*' | sort)
if [[ "${1:-}" == "--lint" ]]; then
    exec swift format lint --configuration .swift-format "${files[@]}"
fi
exec swift format format --configuration .swift-format --in-place "${files[@]}"
