import CompressNIO
import Foundation
import NIOCore
import RegistrarCore
import RegistrarWire
import Synchronization

/// The peer protocol on the cluster port (main port + 1001), over Registrar's own gRPC
/// transport. Every message is a `Payload` (the same envelope SDKs use): `metadata.type` names
/// it, `metadata.headers` carry the sender's member address and the cluster identity, and the
/// body is zlib-compressed JSON (`DistroJSON`). The contract is written up in `docs/cluster.md`.
enum ClusterWire {
    /// Unary calls: probe, sync, verify.
    static let callPath = "/registrar.Cluster/call"
    /// Server streaming: the snapshot, in chunks.
    static let snapshotPath = "/registrar.Cluster/snapshot"

    enum Header {
        static let member = "member"
        static let identity = "identity"
        static let resourceType = "resourceType"
        static let sequence = "sequence"
        static let last = "last"
        static let ready = "ready"
    }

    enum MessageType {
        static let ping = "MemberPing"
        static let pong = "MemberPong"
        static let sync = "DistroSync"
        static let syncAck = "DistroSyncAck"
        static let verify = "DistroVerify"
        static let resend = "DistroResend"
        static let snapshot = "DistroSnapshot"
        static let chunk = "DistroSnapshotChunk"
    }

    /// A Payload from this member: identity headers plus `headers`, and `body` as is.
    static func envelope(
        type: String, body: [UInt8], from member: MemberAddress, secret: String, headers: [String: String] = [:]
    ) -> ByteBuffer {
        var all = headers
        all[Header.member] = member.description
        all[Header.identity] = secret
        return ByteBuffer(bytes: PayloadCodec.encode(type: type, json: body, headers: all))
    }

    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var input = ByteBuffer(bytes: bytes)
        // zlib cannot fail to compress a complete in-memory buffer.
        guard let output = try? input.compress(with: .zlib()) else { preconditionFailure("zlib deflate failed") }
        return Array(output.readableBytesView)
    }

    /// Inflates a peer's body; a corrupt, truncated or oversized one is an error, never a crash.
    static func inflate(_ bytes: Data, limit: Int) throws(ClusterError) -> Data {
        var input = ByteBuffer(data: bytes)
        do {
            let output = try input.decompress(with: .zlib(), maxSize: limit)
            return Data(output.readableBytesView)
        } catch {
            throw .corruptBody("cannot inflate a \(bytes.count)-byte zlib body: \(error)")
        }
    }
}

/// Why a peer's request (or a peer's answer) was refused.
enum ClusterError: Error, CustomStringConvertible {
    case unauthenticated(String)
    case notAMember(String)
    case corruptBody(String)
    case unknownType(String)
    case outOfOrder(expected: Int, got: Int)
    case peerFailed(String)

    var description: String {
        switch self {
        case .unauthenticated(let detail): "unauthenticated peer: \(detail)"
        case .notAMember(let address): "'\(address)' is not in the member list"
        case .corruptBody(let detail): "corrupt body: \(detail)"
        case .unknownType(let type): "unknown datum type '\(type)'"
        case .outOfOrder(let expected, let got): "snapshot chunk \(got) arrived where chunk \(expected) was expected"
        case .peerFailed(let detail): detail
        }
    }
}

/// Bytes and datums on the cluster port, for the metrics endpoint and the benchmark.
///
/// Threading: thread-safe (atomics).
final class ClusterCounters: Sendable {
    let syncRequestsSent = Atomic<Int>(0)
    let datumsSent = Atomic<Int>(0)
    let datumsApplied = Atomic<Int>(0)
    let syncFailures = Atomic<Int>(0)
    /// Uncompressed and compressed body bytes this node sent (sync, verify and snapshot).
    let rawBytesSent = Atomic<Int>(0)
    let compressedBytesSent = Atomic<Int>(0)
    let verifyBytesSent = Atomic<Int>(0)
    let rawBytesReceived = Atomic<Int>(0)
    let compressedBytesReceived = Atomic<Int>(0)
    let rejectedRequests = Atomic<Int>(0)
    let replicasExpired = Atomic<Int>(0)
    let snapshotsLoaded = Atomic<Int>(0)
    let snapshotFailures = Atomic<Int>(0)
    /// v1 requests forwarded to the member responsible for their `ip:port`, and forwards that failed.
    let v1Forwarded = Atomic<Int>(0)
    let v1ForwardFailures = Atomic<Int>(0)

    var all: [(String, Int)] {
        [
            ("distroSyncRequestsSent", syncRequestsSent.value), ("distroDatumsSent", datumsSent.value),
            ("distroDatumsApplied", datumsApplied.value), ("distroSyncFailures", syncFailures.value),
            ("distroRawBytesSent", rawBytesSent.value), ("distroCompressedBytesSent", compressedBytesSent.value),
            ("distroVerifyBytesSent", verifyBytesSent.value),
            ("distroRawBytesReceived", rawBytesReceived.value),
            ("distroCompressedBytesReceived", compressedBytesReceived.value),
            ("distroRejectedRequests", rejectedRequests.value), ("distroReplicasExpired", replicasExpired.value),
            ("distroSnapshotsLoaded", snapshotsLoaded.value), ("distroSnapshotFailures", snapshotFailures.value),
            ("v1Forwarded", v1Forwarded.value), ("v1ForwardFailures", v1ForwardFailures.value),
        ]
    }

    /// Compresses `raw` for the wire and counts both sizes.
    func deflate(_ raw: [UInt8], verify: Bool = false) -> [UInt8] {
        let compressed = ClusterWire.deflate(raw)
        rawBytesSent.add(raw.count)
        compressedBytesSent.add(compressed.count)
        if verify { verifyBytesSent.add(compressed.count) }
        return compressed
    }

    func inflate(_ body: Data, limit: Int) throws(ClusterError) -> Data {
        let raw = try ClusterWire.inflate(body, limit: limit)
        compressedBytesReceived.add(body.count)
        rawBytesReceived.add(raw.count)
        return raw
    }
}
