/// A client's whole published state, as Distro copies it from the member that owns the client
/// to every other member.
public struct ClientDatum: Sendable, Equatable {
    public var clientId: ClientID
    /// The owner's version of the client: a larger revision is newer.
    public var revision: UInt64
    /// The member that owns the client (its address in the member list).
    public var owner: String
    public var publications: [ServiceKey: [Instance]]

    public init(clientId: ClientID, revision: UInt64, owner: String, publications: [ServiceKey: [Instance]]) {
        self.clientId = clientId
        self.revision = revision
        self.owner = owner
        self.publications = publications
    }

    public var instanceCount: Int { publications.values.reduce(0) { $0 + $1.count } }
}

/// A client the owner deleted, and the revision it was deleted at.
public struct ClientDeletion: Sendable, Equatable {
    public var clientId: ClientID
    public var revision: UInt64

    public init(clientId: ClientID, revision: UInt64) {
        self.clientId = clientId
        self.revision = revision
    }
}

/// Cluster-mode bookkeeping: which owned clients changed since Distro last looked, and which
/// replicas were deleted recently (so that a late, older datum cannot bring one back).
struct ReplicationLog: Sendable {
    var member: String
    var changed: Set<ClientID> = []
    var deleted: [ClientID: UInt64] = [:]
    var lastRevision: UInt64 = 0
    /// The first revision of this run of the member: every client it owned in an earlier run
    /// (before a restart) has an older one, and every client of this run a newer one.
    var incarnation: UInt64 = 0
    /// The newest incarnation each peer is known to run as: its datums from older runs are dead.
    var peerIncarnations: [String: UInt64] = [:]
    /// Deleted replicas: the revision they were deleted at, and until when that is remembered.
    var tombstones: [ClientID: (revision: UInt64, until: Int64)] = [:]
}

/// Distro (AP replication) on the registry: every member holds the clients it owns plus a
/// replica of every client the other members own. The owner sends whole clients; replicas are
/// replaced wholesale, ordered by revision, and kept alive by a lease the owner renews.
///
/// Revisions are hybrid clocks (wall-clock microseconds, never repeating on one member), so that
/// when an `ip:port` client moves to another member, the new owner's datums are newer.
extension Registry {
    /// What applying a datum did.
    public enum ReplicaOutcome: Sendable, Equatable {
        /// Replaced the replica; these services changed.
        case applied(changed: [ServiceKey])
        /// The replica already had this revision or a newer one (or was deleted after it).
        case stale
        /// This member owns the client with a revision at least as new: the datum is ignored.
        case ownedHere
    }

    /// Turns on change tracking for Distro; `member` is this node's address in the member list.
    public mutating func enableReplication(member: String) {
        guard replication == nil else { return }
        replication = ReplicationLog(member: member)
        replication!.incarnation = takeClientRevision()
    }

    /// This run's incarnation (0 before `enableReplication`): peers that learn it drop this
    /// member's clients from earlier runs, which died with that process.
    public var incarnation: UInt64 { replication?.incarnation ?? 0 }

    /// Whether this member's changes to a client are sent to peers: ephemeral clients it owns.
    private func isReplicated(_ kind: ClientKind) -> Bool {
        kind == .connection || kind == .ipPort(ephemeral: true)
    }

    private mutating func takeClientRevision() -> UInt64 {
        let revision = max(UInt64(max(clock.now(), 0)) * 1000, replication!.lastRevision + 1)
        replication!.lastRevision = revision
        return revision
    }

    mutating func noteChanged(_ id: ClientID) {
        guard replication != nil, let kind = clients[id]?.kind, isReplicated(kind) else { return }
        clients[id]!.revision = takeClientRevision()
        replication!.changed.insert(id)
    }

    mutating func noteRemoved(_ id: ClientID, _ record: ClientRecord) {
        guard replication != nil, isReplicated(record.kind), record.revision > 0 else { return }
        replication!.changed.remove(id)
        replication!.deleted[id] = takeClientRevision()
    }

    /// The owned clients that changed or were deleted since the last call, as datums to send.
    public mutating func takeReplicationChanges() -> (changed: [ClientDatum], deleted: [ClientDeletion]) {
        guard let log = replication else { return ([], []) }
        replication!.changed = []
        replication!.deleted = [:]
        let changed = log.changed.compactMap { datum(of: $0) }
        return (changed, log.deleted.map { ClientDeletion(clientId: $0.key, revision: $0.value) })
    }

    /// The current datum of a client this member owns (nil for replicas and unknown clients).
    public func datum(of id: ClientID) -> ClientDatum? {
        guard let member = replication?.member, let record = clients[id], isReplicated(record.kind), record.revision > 0
        else { return nil }
        return ClientDatum(clientId: id, revision: record.revision, owner: member, publications: record.publications)
    }

    /// (clientId, revision) of every client this member owns and has replicated: the verify digest.
    public func ownedDigest() -> [(clientId: ClientID, revision: UInt64)] {
        clients.compactMap { id, record in
            isReplicated(record.kind) && record.revision > 0 ? (id, record.revision) : nil
        }
    }

    /// Every client this member holds, owned or replica: what a starting member loads.
    public func replicationSnapshot() -> [ClientDatum] {
        clients.compactMap { id, record in
            guard record.kind == .replica, let owner = record.owner else { return datum(of: id) }
            return ClientDatum(clientId: id, revision: record.revision, owner: owner, publications: record.publications)
        }
    }

    /// Applies a peer's datum: the replica becomes exactly the datum, if it is newer. The
    /// datum is checked with the naming rules first; a datum that breaks them changes nothing.
    public mutating func applyReplica(_ datum: ClientDatum, leaseUntil: Int64) throws(RegistryError) -> ReplicaOutcome {
        for (service, instances) in datum.publications {
            try validation.check(service: service)
            try validation.check(batch: instances)
        }
        if let tombstone = replication?.tombstones[datum.clientId], tombstone.revision >= datum.revision {
            return .stale
        }
        if datum.revision < replication?.peerIncarnations[datum.owner] ?? 0 { return .stale }
        if let record = clients[datum.clientId] {
            guard record.revision < datum.revision else {
                if record.kind == .replica, record.revision == datum.revision {
                    clients[datum.clientId]!.leaseUntil = max(record.leaseUntil, leaseUntil)
                }
                return record.kind == .replica ? .stale : .ownedHere
            }
            if record.kind != .replica { release(datum.clientId) }
        } else {
            clients[datum.clientId] = ClientRecord(kind: .replica)
        }
        replication?.tombstones.removeValue(forKey: datum.clientId)
        clients[datum.clientId]!.revision = datum.revision
        clients[datum.clientId]!.owner = datum.owner
        clients[datum.clientId]!.leaseUntil = leaseUntil
        let old = clients[datum.clientId]!.publications
        var changed: [ServiceKey] = []
        for service in Set(old.keys).union(datum.publications.keys) where old[service] != datum.publications[service] {
            changed.append(service)
            if let instances = datum.publications[service] {
                clients[datum.clientId]!.publications[service] = instances
                ensureService(service, ephemeral: true)
                services[service]!.publishers.insert(datum.clientId)
                touch(service)
            } else {
                clients[datum.clientId]!.publications.removeValue(forKey: service)
                services[service]?.publishers.remove(datum.clientId)
                touch(service)
                dropIfUnused(service)
            }
        }
        return .applied(changed: changed)
    }

    /// A client this member owned is now owned elsewhere (an `ip:port` client whose
    /// responsibility moved): it stops being beaten and replicated here.
    private mutating func release(_ id: ClientID) {
        heartbeatClients.remove(id)
        leasedSubscribers.remove(id)
        replication?.changed.remove(id)
        clients[id]!.kind = .replica
        clients[id]!.lastBeat = [:]
    }

    /// A replica becomes this member's own client again (an `ip:port` client whose beats or
    /// registrations now reach this member): it lives by its beats from `now` on.
    mutating func adoptIfReplica(_ id: ClientID, now: Int64) {
        guard clients[id]?.kind == .replica else { return }
        clients[id]!.kind = .ipPort(ephemeral: true)
        clients[id]!.owner = nil
        heartbeatClients.insert(id)
        for (service, instances) in clients[id]!.publications {
            clients[id]!.lastBeat[service] = now
            if let first = instances.first {
                deadlines.insert(
                    HeartbeatDeadline(
                        at: now + timing(of: first, in: service).timeout + 1, client: id, service: service))
            }
        }
        noteChanged(id)
    }

    /// Applies a peer's deletion of a client it owns. Returns the services that changed.
    public mutating func removeReplica(_ deletion: ClientDeletion, rememberUntil: Int64) -> [ServiceKey] {
        if let tombstone = replication?.tombstones[deletion.clientId], tombstone.revision >= deletion.revision {
            return []
        }
        replication?.tombstones[deletion.clientId] = (deletion.revision, rememberUntil)
        guard let record = clients[deletion.clientId], record.kind == .replica, record.revision <= deletion.revision
        else { return [] }
        return removeClient(deletion.clientId)
    }

    /// `owner` runs as `incarnation`: its replicas from earlier runs (older revisions) belong to
    /// connections that died with that process, so they go now instead of at the lease's end,
    /// even those the restarted owner cannot name, and later datums from those runs (a peer's
    /// snapshot) are stale. Returns the removed clients and changed services; nothing when the
    /// incarnation is not newer than the one already known.
    public mutating func forgetEarlierRuns(of owner: String, incarnation: UInt64) -> (
        removed: [ClientID], changed: [ServiceKey]
    ) {
        guard replication != nil, incarnation > replication!.peerIncarnations[owner, default: 0] else {
            return ([], [])
        }
        replication!.peerIncarnations[owner] = incarnation
        let removed = clients.compactMap { id, record in
            record.kind == .replica && record.owner == owner && record.revision < incarnation ? id : nil
        }
        var changed = Set<ServiceKey>()
        for id in removed {
            replication?.tombstones[id] = (clients[id]!.revision, clients[id]!.leaseUntil)
            changed.formUnion(removeClient(id))
        }
        return (removed, Array(changed))
    }

    /// Renews the leases of `owner`'s replicas listed in its digest, and returns the clients it
    /// must send again: those this member lacks or holds at an older revision.
    public mutating func renewReplicas(
        owner: String, digest: [(clientId: ClientID, revision: UInt64)], leaseUntil: Int64
    ) -> [ClientID] {
        var resend: [ClientID] = []
        for entry in digest {
            guard let record = clients[entry.clientId] else {
                if let tombstone = replication?.tombstones[entry.clientId], tombstone.revision >= entry.revision {
                    continue
                }
                resend.append(entry.clientId)
                continue
            }
            guard record.kind == .replica else { continue }
            if record.revision == entry.revision, record.owner == owner {
                clients[entry.clientId]!.leaseUntil = max(record.leaseUntil, leaseUntil)
            } else if record.revision < entry.revision {
                resend.append(entry.clientId)
            }
        }
        return resend
    }

    /// Removes the replicas whose lease ran out by `now` (their owner stopped renewing them) and
    /// forgets old tombstones. Returns the expired clients and the services that changed.
    public mutating func expireReplicas(now: Int64) -> (expired: [ClientID], changed: [ServiceKey]) {
        let expired = clients.compactMap { id, record in record.kind == .replica && record.leaseUntil < now ? id : nil }
        var changed = Set<ServiceKey>()
        for id in expired { changed.formUnion(removeClient(id)) }
        if let tombstones = replication?.tombstones {
            replication!.tombstones = tombstones.filter { $0.value.until >= now }
        }
        return (expired, Array(changed))
    }
}
