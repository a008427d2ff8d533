#!/usr/bin/env bash
# Regenerates Sources/RegistrarWire/Generated/*.pb.swift from proto/.
#
# Run it only when proto/ changes; the output is committed so that builds never run protoc.
# Needs: protoc (Debian: protobuf-compiler) and protoc-gen-swift built from the swift-protobuf
# version that Package.swift resolves (set PROTOC_GEN_SWIFT, or have it on PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}
if [ -z "$plugin" ]; then
  echo "protoc-gen-swift not found: build it from swift-protobuf (swift build -c release --product protoc-gen-swift) and set PROTOC_GEN_SWIFT" >&2
  exit 1
fi
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
out="$root/Sources/RegistrarWire/Generated"
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Public \
  --swift_out="$out" \
  -I "$root/proto" \
  "$root/proto/nacos_grpc_service.proto"
echo "generated into $out"
