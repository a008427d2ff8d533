import Foundation
import NIOCore
import RegistrarCore
import RegistrarWire

/// The receiving side of the peer protocol: who may call, and what each call does.
extension ClusterNode {
    /// A peer request is accepted only with the shared identity, from an address in the member
    /// list (other than this node's own).
    func authenticate(_ message: WireMessage) throws(ClusterError) -> MemberAddress {
        guard let identity = message.headers[ClusterWire.Header.identity] else {
            throw .unauthenticated("the request carries no cluster identity")
        }
        guard Self.constantTimeEqual(identity, secret) else {
            throw .unauthenticated("the cluster identity does not match this node's --cluster-secret")
        }
        let claimed = message.headers[ClusterWire.Header.member] ?? ""
        guard let address = MemberAddress(parsing: claimed), address != me, memberTable.isMember(address) else {
            throw .notAMember(claimed)
        }
        return address
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    /// Answers one unary peer call: (response type, body, headers).
    func answer(_ message: WireMessage, from sender: MemberAddress) throws(ClusterError) -> (
        type: String, body: [UInt8], headers: [String: String]
    ) {
        switch message.type {
        case ClusterWire.MessageType.ping:
            return (
                ClusterWire.MessageType.pong, [],
                [
                    ClusterWire.Header.ready: readiness.isReady ? "true" : "false",
                    ClusterWire.Header.incarnation: "\(incarnation)",
                ]
            )
        case ClusterWire.MessageType.sync:
            let type = message.headers[ClusterWire.Header.resourceType] ?? ""
            guard type == DistroJSON.clientDataType else { throw .unknownType(type) }
            let batch = try inflate(message.json, DistroJSON.decodeBatch)
            applyBatch(batch, from: sender)
            return (ClusterWire.MessageType.syncAck, [], [:])
        case ClusterWire.MessageType.verify:
            let digest = try inflate(message.json, DistroJSON.decodeDigest)
            let resend = naming.store.withRegistry {
                $0.renewReplicas(owner: sender.description, digest: digest.entries, leaseUntil: leaseDeadline())
            }
            return (
                ClusterWire.MessageType.resend,
                counters.deflate(DistroJSON.encode(DistroJSON.Resend(clientIds: resend))), [:]
            )
        default:
            throw .unknownType(message.type)
        }
    }

    /// Inflates a peer's body and decodes it; either failing is a corrupt body.
    func inflate<Body>(_ body: Data, _ decode: (Data) throws(WireError) -> Body) throws(ClusterError) -> Body {
        let raw = try counters.inflate(body, limit: configuration.maximumInflatedSize)
        do throws(WireError) {
            return try decode(raw)
        } catch {
            throw .corruptBody("\(error)")
        }
    }

    func leaseDeadline() -> Int64 { monotonicMillis() + configuration.replicaLease.nanoseconds / 1_000_000 }

    /// Applies a peer's datums and deletions, then pushes what changed to this node's
    /// subscribers. With `from`, only datums that member owns are taken (a sync); without it
    /// (a snapshot), datums this node owned before it restarted are returned instead: those
    /// clients died with it.
    @discardableResult
    func applyBatch(_ batch: DistroJSON.Batch, from sender: MemberAddress?) -> [ClientDatum] {
        var changed = Set<ServiceKey>()
        var refused: [String] = []
        var mine: [ClientDatum] = []
        let lease = leaseDeadline()
        naming.store.withRegistry { registry in
            for datum in batch.data {
                if let sender, datum.owner != sender.description {
                    refused.append("\(datum.clientId): owned by \(datum.owner), sent by \(sender)")
                    continue
                }
                if sender == nil, datum.owner == me.description {
                    mine.append(datum)
                    continue
                }
                do throws(RegistryError) {
                    if case .applied(let services) = try registry.applyReplica(datum, leaseUntil: lease) {
                        changed.formUnion(services)
                    }
                } catch {
                    refused.append("\(datum.clientId): \(error.message)")
                }
            }
            for deletion in batch.deleted {
                changed.formUnion(registry.removeReplica(deletion, rememberUntil: lease))
            }
        }
        counters.datumsApplied.add(batch.data.count + batch.deleted.count - refused.count - mine.count)
        if !refused.isEmpty {
            logger.warning(
                "refused \(refused.count) datum(s) from \(sender?.description ?? "a snapshot"): \(refused.prefix(3).joined(separator: "; "))"
            )
        }
        naming.changes.servicesChanged(Array(changed))
        return mine
    }

    /// The whole ephemeral state this node holds (owned and replicas), as snapshot chunks of at
    /// most `snapshotChunkClients` clients, each compressed on its own and numbered from 0.
    func snapshotChunks() -> [ByteBuffer] {
        let datums = naming.store.read { $0.replicationSnapshot() }
        let size = max(1, configuration.snapshotChunkClients)
        let count = max(1, (datums.count + size - 1) / size)
        return (0..<count).map { index in
            let slice = datums[min(index * size, datums.count)..<min((index + 1) * size, datums.count)]
            let body = counters.deflate(DistroJSON.encode(DistroJSON.Batch(data: Array(slice))))
            return ClusterWire.envelope(
                type: ClusterWire.MessageType.chunk, body: body, from: me, secret: secret,
                headers: [
                    ClusterWire.Header.sequence: String(index),
                    ClusterWire.Header.last: index == count - 1 ? "true" : "false",
                ]
            )
        }
    }
}
