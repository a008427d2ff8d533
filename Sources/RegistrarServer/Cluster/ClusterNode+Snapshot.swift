import Foundation
import NIOCore
import RegistrarCore
import RegistrarWire

/// The startup snapshot: a starting member streams the whole ephemeral state from a ready peer
/// in bounded, compressed chunks before it reports ready, so its clients never see it empty.
extension ClusterNode {
    /// What one load brought in, for the log and the benchmark.
    struct SnapshotReport: CustomStringConvertible {
        var peer: MemberAddress
        var chunks = 0
        var clients = 0
        var instances = 0
        var compressedBytes = 0
        var took: Duration = .zero

        var description: String {
            "\(clients) client(s), \(instances) instance(s) in \(chunks) chunk(s), \(compressedBytes) compressed bytes from \(peer) in \(took)"
        }
    }

    /// Probes the peers, then loads a snapshot from the first ready one that delivers a whole
    /// snapshot. With no ready peer (the first member up, or the whole cluster starting at
    /// once) there is nothing to load.
    func loadSnapshot() async {
        let outcomes = await probeAll()
        let ready = outcomes.compactMap { address, outcome in if case .ready = outcome { address } else { nil } }
            .sorted()
        guard !ready.isEmpty else {
            let seen = outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; ")
            logger.notice("no peer is ready to give a snapshot (\(seen)): starting with this node's own state only")
            return
        }
        for address in ready {
            guard let peer = peers[address] else { continue }
            do {
                let report = try await loadSnapshot(from: peer)
                counters.snapshotsLoaded.add(1)
                logger.notice("loaded the cluster snapshot: \(report)")
                return
            } catch {
                counters.snapshotFailures.add(1)
                logger.warning("snapshot from \(address) failed: \(error); trying the next ready peer")
            }
        }
        logger.warning(
            "no peer delivered a whole snapshot: starting with what arrived; verify fills in the rest within \(configuration.verifyInterval)"
        )
    }

    /// Streams one peer's snapshot, applying each chunk as it arrives. Chunks must arrive
    /// numbered 0, 1, 2, … and end with one marked last.
    func loadSnapshot(from peer: PeerLink) async throws -> SnapshotReport {
        let started = ContinuousClock.now
        var report = SnapshotReport(peer: peer.address)
        var finished = false
        var mine: [ClientDatum] = []
        for try await buffer in try await peer.snapshotStream() {
            let message = try PayloadCodec.decode(Array(buffer.readableBytesView))
            guard message.type == ClusterWire.MessageType.chunk else { throw ClusterError.unknownType(message.type) }
            let sequence = Int(message.headers[ClusterWire.Header.sequence] ?? "") ?? -1
            guard sequence == report.chunks, !finished else {
                throw ClusterError.outOfOrder(expected: report.chunks, got: sequence)
            }
            let batch = try inflate(message.json, DistroJSON.decodeBatch)
            mine += applyBatch(batch, from: nil)
            report.chunks += 1
            report.clients += batch.data.count
            report.instances += batch.data.reduce(0) { $0 + $1.instanceCount }
            report.compressedBytes += message.json.count
            finished = message.headers[ClusterWire.Header.last] == "true"
        }
        guard finished else {
            throw ClusterError.peerFailed("the snapshot stream ended before its last chunk (\(report.chunks) received)")
        }
        forgetPreviousLife(mine)
        report.took = ContinuousClock.now - started
        return report
    }

    /// Clients this node owned before it restarted died with it: its peers are told to delete
    /// them now rather than wait for their leases to run out.
    private func forgetPreviousLife(_ datums: [ClientDatum]) {
        guard !datums.isEmpty else { return }
        let owed = Dictionary(
            // At least this run's incarnation: a peer may hold a newer revision than the snapshot's.
            datums.map { ($0.clientId, PeerLink.Owed.deleted(revision: max($0.revision + 1, incarnation))) },
            uniquingKeysWith: { a, _ in a })
        for peer in peers.values { peer.owe(owed) }
        logger.notice(
            "\(datums.count) client(s) this node owned before it restarted are gone; deleting them on the peers")
    }
}
