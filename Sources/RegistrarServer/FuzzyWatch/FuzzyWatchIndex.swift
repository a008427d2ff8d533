import RegistrarCore
import Synchronization

/// Which connections fuzzy-watch which patterns, by namespace, and the change listener that
/// tells them when a service comes into or leaves what their patterns match.
///
/// A service "is there" for fuzzy watch while some client publishes into it: it appears with
/// its first instance and goes with its last (Nacos's ADD_SERVICE and DELETE_SERVICE).
///
/// Threading: thread-safe. `servicesChanged` runs on the mutator's thread, outside the
/// registry lock; each connection applies what it is told on its own loop.
final class FuzzyWatchIndex: ServiceChangeListener {
    struct Limits: Sendable {
        /// Patterns one connection may watch at once (Nacos counts 20 per node).
        var patternsPerConnection = 20
        /// Services one pattern reports; past it, adds are not reported (Nacos's default, 500).
        var matchesPerPattern = 500
    }

    private let connections: ConnectionTable
    let limits: Limits
    /// namespace → pattern → watching connection ids.
    private let watches = Mutex<[String: [FuzzyWatchPattern: Set<String>]]>([:])

    init(connections: ConnectionTable, limits: Limits = Limits()) {
        self.connections = connections
        self.limits = limits
    }

    func watch(_ pattern: FuzzyWatchPattern, by connection: String) {
        _ = watches.withLock { $0[pattern.namespace, default: [:]][pattern, default: []].insert(connection) }
    }

    func cancel(_ pattern: FuzzyWatchPattern, by connection: String) {
        watches.withLock { watches in
            watches[pattern.namespace]?[pattern]?.remove(connection)
            if watches[pattern.namespace]?[pattern]?.isEmpty == true {
                watches[pattern.namespace]?.removeValue(forKey: pattern)
            }
            if watches[pattern.namespace]?.isEmpty == true { watches.removeValue(forKey: pattern.namespace) }
        }
    }

    /// Connection ids that watch a pattern matching `service`.
    func watchers(of service: ServiceKey) -> Set<String> {
        watches.withLock { watches in
            guard let patterns = watches[service.namespace] else { return [] }
            var ids = Set<String>()
            for (pattern, watching) in patterns where pattern.matches(service) { ids.formUnion(watching) }
            return ids
        }
    }

    var patternCount: Int { watches.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    func servicesChanged(_ services: [ServiceKey]) {
        // Nothing to do, and no registry read, while nobody fuzzy-watches.
        guard watches.withLock({ !$0.isEmpty }) else { return }
        for service in services {
            // Each connection reads whether the service is there when it applies the change, so
            // that changes reported from different threads cannot land out of order.
            for id in watchers(of: service) {
                connections.connection(id)?.fuzzyWatchServiceChanged(service)
            }
        }
    }
}
