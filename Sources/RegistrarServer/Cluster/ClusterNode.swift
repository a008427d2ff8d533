import Foundation
import Logging
import NIOCore
import RegistrarCore
import RegistrarWire
import Synchronization

/// This node as a member of a Registrar cluster: membership (probes, UP/SUSPICIOUS/DOWN),
/// Distro replication of the clients it owns (sync, verify, leases) and the snapshot a
/// starting member loads.
///
/// The domain rules live in `Registry+Replication` and `MemberTable`; this type moves their
/// results over the network and keeps time.
///
/// Threading: thread-safe. Its loops run as tasks, one per concern, each bounded by `stop()`.
final class ClusterNode: Sendable {
    let configuration: ClusterConfiguration
    /// The cluster identity, never empty (the composition root refuses to start without one).
    let secret: String
    let me: MemberAddress
    let naming: NamingContext
    let readiness: Readiness
    let counters: ClusterCounters
    let logger: Logger
    let peers: [MemberAddress: PeerLink]
    /// This run's `Registry.incarnation`, fixed once replication is on.
    let incarnation: UInt64
    private let members: Mutex<MemberTable>
    private let loops = Mutex<[Task<Void, Never>]>([])

    init(
        configuration: ClusterConfiguration, secret: String, me: MemberAddress, naming: NamingContext,
        readiness: Readiness, counters: ClusterCounters, group: EventLoopGroup, logger: Logger
    ) {
        self.counters = counters
        precondition(!secret.isEmpty, "a cluster member needs a cluster secret")
        self.configuration = configuration
        self.secret = secret
        self.me = me
        self.naming = naming
        self.readiness = readiness
        var logger = logger
        logger[metadataKey: "member"] = "\(me)"
        self.logger = logger
        let table = MemberTable(me: me, members: configuration.members, downAfter: configuration.downAfter)
        self.members = Mutex(table)
        self.peers = Dictionary(
            uniqueKeysWithValues: table.peers.map {
                ($0, PeerLink(address: $0, me: me, secret: secret, configuration: configuration, group: group))
            })
        self.incarnation = naming.store.withRegistry { registry in
            registry.enableReplication(member: me.description)
            return registry.incarnation
        }
    }

    var memberTable: MemberTable { members.withLock { $0 } }

    // MARK: Lifecycle

    /// Starts probing, syncing, verifying and expiring.
    func start() {
        let loops: [Task<Void, Never>] = [
            every(configuration.probeInterval) { node in await node.probeAll() },
            every(configuration.syncWindow) { node in node.syncChanges() },
            every(configuration.verifyInterval) { node in await node.verifyAll() },
            every(.seconds(1)) { node in node.expireReplicas() },
        ]
        self.loops.withLock { $0 = loops }
    }

    func stop() async {
        let running = loops.withLock { loops in
            defer { loops = [] }
            return loops
        }
        for loop in running { loop.cancel() }
        for loop in running { await loop.value }
        for peer in peers.values { await peer.close() }
    }

    private func every(_ interval: TimeAmount, _ body: @escaping @Sendable (ClusterNode) async -> Void) -> Task<
        Void, Never
    > {
        Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                await body(self)
                try? await Task.sleep(nanoseconds: UInt64(max(interval.nanoseconds, 1_000_000)))
            }
        }
    }

    // MARK: Membership

    /// What one probe of a peer found.
    enum ProbeOutcome: Sendable, CustomStringConvertible {
        case ready
        case starting
        case unreachable(String)

        var description: String {
            switch self {
            case .ready: "ready"
            case .starting: "starting (no snapshot to give yet)"
            case .unreachable(let error): "unreachable: \(error)"
            }
        }
    }

    /// Probes every peer once, concurrently.
    @discardableResult
    func probeAll() async -> [MemberAddress: ProbeOutcome] {
        await withTaskGroup(of: (MemberAddress, ProbeOutcome).self) { group in
            for peer in peers.values {
                group.addTask { (peer.address, await self.probe(peer)) }
            }
            var outcomes: [MemberAddress: ProbeOutcome] = [:]
            for await (address, outcome) in group { outcomes[address] = outcome }
            return outcomes
        }
    }

    /// Pings one peer and records the result.
    private func probe(_ peer: PeerLink) async -> ProbeOutcome {
        var outcome: ProbeOutcome
        do {
            let pong = try await peer.call(
                type: ClusterWire.MessageType.ping, body: [], timeout: configuration.probeTimeout)
            outcome = pong.headers[ClusterWire.Header.ready] == "true" ? .ready : .starting
            if let incarnation = pong.headers[ClusterWire.Header.incarnation].flatMap(UInt64.init) {
                noteIncarnation(incarnation, of: peer.address)
            }
        } catch {
            outcome = .unreachable("\(error)")
        }
        let failure: String? = if case .unreachable(let error) = outcome { error } else { nil }
        let (change, member) = members.withLock { table in
            (
                table.recordProbe(of: peer.address, succeeded: failure == nil, now: wallClockMillis()),
                table.members[peer.address]
            )
        }
        if let change {
            if change == .down {
                logger.warning(
                    "member \(peer.address) is DOWN: \(member?.failures ?? 0) probes in a row failed; last: \(failure ?? "")"
                )
            } else {
                logger.notice("member \(peer.address) is \(change.rawValue)\(failure.map { ": \($0)" } ?? "")")
            }
        } else if let failure, let member, member.failures == 1 {
            // Not a change of state (SUSPICIOUS stays SUSPICIOUS), but worth a line.
            logger.notice("probe of member \(peer.address) failed: \(failure)")
        }
        return outcome
    }

    /// A peer that answers with a newer incarnation restarted (or is seen for the first time):
    /// its clients from earlier runs died with that process. They are dropped here at once,
    /// also those its own snapshot could not name (Nacos #15857's ghosts and losses both come
    /// from trusting old state after a restart).
    private func noteIncarnation(_ incarnation: UInt64, of peer: MemberAddress) {
        let (removed, changed) = naming.store.withRegistry {
            $0.forgetEarlierRuns(of: peer.description, incarnation: incarnation)
        }
        guard !removed.isEmpty else { return }
        logger.notice(
            "member \(peer) runs as incarnation \(incarnation): dropped \(removed.count) earlier-run replica(s)"
        )
        naming.changes.servicesChanged(changed)
    }

    // MARK: Sync (owner side)

    /// Hands the clients that changed since the last tick to every peer's queue, then starts a
    /// send to each peer that has nothing in flight and no backoff pending.
    func syncChanges() {
        let (changed, deleted) = naming.store.withRegistry { registry in
            let changes = registry.takeReplicationChanges()
            return (changes.changed.map(\.clientId), changes.deleted)
        }
        var owed: [ClientID: PeerLink.Owed] = [:]
        for id in changed { owed[id] = .current }
        for deletion in deleted { owed[deletion.clientId] = .deleted(revision: deletion.revision) }
        let table = memberTable
        for peer in peers.values {
            // Retries to a peer are bounded: once it is DOWN, nothing more is queued for it.
            guard table.state(of: peer.address) != .down else {
                let dropped = peer.forgetOwed()
                if dropped > 0 {
                    logger.info(
                        "\(peer.address) is DOWN: dropped \(dropped) queued client(s); verify catches it up when it is back"
                    )
                }
                continue
            }
            peer.owe(owed)
            guard let taken = peer.beginSend(limit: configuration.maximumBatch, now: .now()) else { continue }
            Task { await self.send(taken, to: peer) }
        }
    }

    /// Sends `taken` to the peer, then whatever became owed meanwhile, until the queue is
    /// empty or a send fails (the queue's backoff then decides when to try again).
    private func send(_ taken: [ClientID: PeerLink.Owed], to peer: PeerLink) async {
        var next: [ClientID: PeerLink.Owed]? = taken
        while let taken = next {
            let succeeded = await sendBatch(taken, to: peer)
            peer.finishSend(taken, succeeded: succeeded, now: .now())
            next = succeeded ? peer.beginSend(limit: configuration.maximumBatch, now: .now()) : nil
        }
    }

    private func sendBatch(_ taken: [ClientID: PeerLink.Owed], to peer: PeerLink) async -> Bool {
        var batch = DistroJSON.Batch()
        naming.store.read { registry in
            for (id, owed) in taken {
                switch owed {
                case .current: if let datum = registry.datum(of: id) { batch.data.append(datum) }
                case .deleted(let revision): batch.deleted.append(ClientDeletion(clientId: id, revision: revision))
                }
            }
        }
        guard !batch.data.isEmpty || !batch.deleted.isEmpty else { return true }
        let body = counters.deflate(DistroJSON.encode(batch))
        let started = ContinuousClock.now
        defer { counters.syncDuration.record(since: started) }
        do {
            _ = try await peer.call(
                type: ClusterWire.MessageType.sync, body: body,
                headers: [ClusterWire.Header.resourceType: DistroJSON.clientDataType])
            counters.syncRequestsSent.add(1)
            counters.datumsSent.add(batch.data.count + batch.deleted.count)
            return true
        } catch {
            counters.syncFailures.add(1)
            logger.debug("sync of \(taken.count) client(s) to \(peer.address) failed; retrying with backoff: \(error)")
            return false
        }
    }

    // MARK: Verify (owner side)

    /// Sends every peer that is not DOWN the digest of the clients this node owns, in batches;
    /// the peer renews those leases and names what it lacks, which is then sent again.
    func verifyAll() async {
        let digest = naming.store.read { $0.ownedDigest() }
        guard !digest.isEmpty else { return }
        let table = memberTable
        let bodies = stride(from: 0, to: digest.count, by: configuration.verifyBatch).map { start in
            DistroJSON.encode(DistroJSON.Digest(digest[start..<min(start + configuration.verifyBatch, digest.count)]))
        }
        await withTaskGroup(of: Void.self) { group in
            for peer in peers.values where table.state(of: peer.address) != .down {
                group.addTask {
                    for body in bodies {
                        do {
                            let response = try await peer.call(
                                type: ClusterWire.MessageType.verify, body: self.counters.deflate(body, verify: true))
                            let resend = try self.inflate(response.json, DistroJSON.decodeResend)
                            peer.owe(
                                Dictionary(resend.clientIds.map { ($0, .current) }, uniquingKeysWith: { a, _ in a }))
                        } catch {
                            self.logger.debug("verify with \(peer.address) failed: \(error)")
                            return
                        }
                    }
                }
            }
        }
    }

    // MARK: Leases

    func expireReplicas() {
        let (expired, changed) = naming.store.withRegistry { $0.expireReplicas(now: monotonicMillis()) }
        guard !expired.isEmpty else { return }
        counters.replicasExpired.add(expired.count)
        logger.notice(
            "\(expired.count) replica client(s) expired: their owner did not renew them within \(configuration.replicaLease)"
        )
        naming.changes.servicesChanged(changed)
    }
}
