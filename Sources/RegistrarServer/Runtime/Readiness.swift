import Synchronization

/// Whether this node may serve clients: false while it starts (its durable state and, in a
/// cluster, its snapshot are loading) and once it stops. ServerCheck, the v1 naming API and the
/// peer ping all read it.
///
/// Threading: thread-safe (one atomic).
final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    private let databaseDown = Atomic<Bool>(false)

    var isReady: Bool { ready.load(ordering: .relaxed) }

    /// Whether the shared durable store (PostgreSQL) answers. A member whose database is down
    /// still serves (ephemeral data, durable reads from memory), so this does not gate
    /// `isReady`; the readiness probe reports it.
    var databaseReachable: Bool { !databaseDown.load(ordering: .relaxed) }

    /// Records the database's state; true if it changed.
    func setDatabaseReachable(_ reachable: Bool) -> Bool {
        databaseDown.exchange(!reachable, ordering: .relaxed) == reachable
    }

    /// Why the readiness probes fail, or nil when the node is ready (both the v1 and v3 probes).
    var problem: String? {
        if !isReady { return "server is starting" }
        if !databaseReachable { return "the database is unreachable: durable writes fail until it returns" }
        return nil
    }

    func set(_ value: Bool) {
        ready.store(value, ordering: .relaxed)
    }
}
