import CompressNIO
import CoreMetrics
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
        /// In a pong: the answering member's `Registry.incarnation` (the first revision of its run).
        static let incarnation = "incarnation"
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

/// Bytes, datums and syncs on the cluster port, for the metrics endpoints and the benchmark.
///
/// Threading: thread-safe.
final class ClusterCounters: Sendable {
    let syncRequestsSent: Counter
    let syncFailures: Counter
    let datumsSent: Counter
    let datumsApplied: Counter
    /// Compressed (on the wire) and uncompressed body bytes (sync, verify and snapshot).
    let compressedBytesSent: Counter
    let rawBytesSent: Counter
    let verifyBytesSent: Counter
    let compressedBytesReceived: Counter
    let rawBytesReceived: Counter
    let rejectedRequests: Counter
    let replicasExpired: Counter
    let snapshotsLoaded: Counter
    let snapshotFailures: Counter
    /// v1 requests forwarded to the member responsible for their `ip:port`, and forwards that failed.
    let v1Forwarded: Counter
    let v1ForwardFailures: Counter
    /// One sync batch to a peer, answered or failed.
    let syncDuration: CoreMetrics.Timer

    init(metrics: RegistrarMetrics) {
        syncRequestsSent = metrics.counter(Series.syncRequestsSent)
        syncFailures = metrics.counter(Series.syncFailures)
        datumsSent = metrics.counter(Series.datumsSent)
        datumsApplied = metrics.counter(Series.datumsApplied)
        compressedBytesSent = metrics.counter(Series.compressedBytesSent)
        rawBytesSent = metrics.counter(Series.rawBytesSent)
        verifyBytesSent = metrics.counter(Series.verifyBytesSent)
        compressedBytesReceived = metrics.counter(Series.compressedBytesReceived)
        rawBytesReceived = metrics.counter(Series.rawBytesReceived)
        rejectedRequests = metrics.counter(Series.rejectedRequests)
        replicasExpired = metrics.counter(Series.replicasExpired)
        snapshotsLoaded = metrics.counter(Series.snapshotsLoaded)
        snapshotFailures = metrics.counter(Series.snapshotFailures)
        v1Forwarded = metrics.counter(Series.v1Forwarded)
        v1ForwardFailures = metrics.counter(Series.v1ForwardFailures)
        syncDuration = metrics.timer(MetricName.distroSyncDuration)
    }

    enum Series {
        private static let syncs = "registrar_distro_sync_requests_total"
        private static let datums = "registrar_distro_datums_total"
        private static let rawBytes = "registrar_distro_sync_raw_bytes_total"
        private static let snapshots = "registrar_distro_snapshots_total"
        private static let forwards = "registrar_v1_forwards_total"
        static let syncRequestsSent = CounterSeries("distroSyncRequestsSent", syncs, [("result", "ok")])
        static let syncFailures = CounterSeries("distroSyncFailures", syncs, [("result", "failed")])
        static let datumsSent = CounterSeries("distroDatumsSent", datums, [("direction", "sent")])
        static let datumsApplied = CounterSeries("distroDatumsApplied", datums, [("direction", "applied")])
        static let compressedBytesSent = CounterSeries(
            "distroCompressedBytesSent", MetricName.distroSyncBytes, [("direction", "sent")])
        static let rawBytesSent = CounterSeries("distroRawBytesSent", rawBytes, [("direction", "sent")])
        static let verifyBytesSent = CounterSeries("distroVerifyBytesSent", "registrar_distro_verify_bytes_total")
        static let compressedBytesReceived = CounterSeries(
            "distroCompressedBytesReceived", MetricName.distroSyncBytes, [("direction", "received")])
        static let rawBytesReceived = CounterSeries("distroRawBytesReceived", rawBytes, [("direction", "received")])
        static let rejectedRequests = CounterSeries(
            "distroRejectedRequests", "registrar_cluster_requests_rejected_total")
        static let replicasExpired = CounterSeries(
            "distroReplicasExpired", "registrar_distro_replicas_expired_total")
        static let snapshotsLoaded = CounterSeries("distroSnapshotsLoaded", snapshots, [("result", "loaded")])
        static let snapshotFailures = CounterSeries("distroSnapshotFailures", snapshots, [("result", "failed")])
        static let v1Forwarded = CounterSeries("v1Forwarded", forwards, [("result", "ok")])
        static let v1ForwardFailures = CounterSeries("v1ForwardFailures", forwards, [("result", "failed")])
        /// In the order the JSON endpoint has always shown them.
        static let all = [
            syncRequestsSent, datumsSent, datumsApplied, syncFailures, rawBytesSent, compressedBytesSent,
            verifyBytesSent, rawBytesReceived, compressedBytesReceived, rejectedRequests, replicasExpired,
            snapshotsLoaded, snapshotFailures, v1Forwarded, v1ForwardFailures,
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
