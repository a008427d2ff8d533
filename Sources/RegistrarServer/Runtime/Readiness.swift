import Synchronization

/// Whether this node may serve clients: false while it starts (its durable state and, in a
/// cluster, its snapshot are loading) and once it stops. ServerCheck, the v1 naming API and the
/// peer ping all read it.
///
/// Threading: thread-safe (one atomic).
final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)

    var isReady: Bool { ready.load(ordering: .relaxed) }

    func set(_ value: Bool) {
        ready.store(value, ordering: .relaxed)
    }
}
