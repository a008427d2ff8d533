import RegistrarCore
import RegistrarWire
import Synchronization

/// The registry behind a lock, plus the cache of encoded ServiceInfo bytes.
///
/// Encoding happens at most once per (service, revision, filter): every subscriber and every query
/// of that revision reuses the same bytes.
///
/// Threading: thread-safe. Critical sections are short and never do I/O.
public final class RegistryStore: Sendable {
    /// Encoded ServiceInfo of one revision.
    public struct EncodedServiceInfo: Sendable {
        public var revision: UInt64
        public var json: [UInt8]
        /// When the change this content carries reached the push scheduler (push latency).
        public var changedAt: ContinuousClock.Instant?

        public init(revision: UInt64, json: [UInt8], changedAt: ContinuousClock.Instant? = nil) {
            self.revision = revision
            self.json = json
            self.changedAt = changedAt
        }
    }

    private struct EncodingKey: Hashable {
        var filter: SnapshotFilter
        var style: ServiceInfoStyle
    }

    private struct CacheEntry {
        var revision: UInt64
        var byEncoding: [EncodingKey: [UInt8]]
    }

    private struct State: ~Copyable {
        var registry: Registry
        var cache: [ServiceKey: CacheEntry] = [:]
    }

    private let state: Mutex<State>

    public init(registry: Registry) {
        state = Mutex(State(registry: registry))
    }

    /// Runs `body` with exclusive access to the registry.
    public func withRegistry<T, E: Error>(_ body: (inout Registry) throws(E) -> T) throws(E) -> T {
        try state.withLock { (state: inout State) throws(E) -> T in try body(&state.registry) }
    }

    /// Reads the registry.
    public func read<T, E: Error>(_ body: (borrowing Registry) throws(E) -> T) throws(E) -> T {
        try state.withLock { (state: inout State) throws(E) -> T in try body(state.registry) }
    }

    /// The current ServiceInfo of `service` for `filter`, encoded in `style` (cached per revision).
    public func encodedServiceInfo(_ service: ServiceKey, filter: SnapshotFilter, style: ServiceInfoStyle = .grpc)
        -> EncodedServiceInfo
    {
        let key = EncodingKey(filter: filter, style: style)
        return state.withLock { state in
            let revision = state.registry.revision(of: service)
            if revision != 0, let entry = state.cache[service], entry.revision == revision,
                let json = entry.byEncoding[key]
            {
                return EncodedServiceInfo(revision: revision, json: json)
            }
            let json = ServiceInfoJSON.encode(state.registry.snapshot(of: service, filter: filter), style: style)
            guard revision != 0 else {
                state.cache.removeValue(forKey: service)
                return EncodedServiceInfo(revision: 0, json: json)
            }
            if state.cache[service]?.revision != revision {
                state.cache[service] = CacheEntry(revision: revision, byEncoding: [:])
            }
            state.cache[service]!.byEncoding[key] = json
            return EncodedServiceInfo(revision: revision, json: json)
        }
    }

    /// Drops cached bytes of services that no longer exist (they would otherwise linger).
    public func forget(_ services: [ServiceKey]) {
        state.withLock { state in
            for service in services where !state.registry.exists(service) {
                state.cache.removeValue(forKey: service)
            }
        }
    }
}
