import Foundation
import Logging
import NIOCore
import RegistrarCore
import Synchronization

/// The shared parts of a running node that the RPC front and the push machinery use.
///
/// Threading: thread-safe; every member is.
final class NamingRuntime: Sendable {
    let configuration: ServerConfiguration
    let store: RegistryStore
    /// The naming rules (the registry applies the same ones to writes).
    let validation: Validation
    let connections = ConnectionTable()
    let requestIds = RequestIdGenerator()
    let logger: Logger
    let push: PushScheduler
    /// Durable writes (persistent instances, service metadata, namespaces), group-committed.
    let durable: DurableWriter
    /// False until the node may serve clients (ServerCheck answers "starting" meanwhile).
    let ready = Atomic<Bool>(false)
    let counters = Counters()
    /// This node as a cluster member; nil when standalone (set once, at start).
    let cluster = Mutex<ClusterNode?>(nil)

    init(configuration: ServerConfiguration, timerLoop: EventLoop, logger: Logger) {
        self.configuration = configuration
        var validation = Validation()
        validation.maximumMetadataLength = configuration.maximumMetadataLength
        self.validation = validation
        self.store = RegistryStore(registry: Registry(validation: validation, wallClock: wallClockMillis))
        self.logger = logger
        self.durable = DurableWriter(registry: store, logger: logger)
        self.push = PushScheduler(store: store, connections: connections, timerLoop: timerLoop, mergeWindow: configuration.pushMergeWindow)
    }

    /// Applies the outcome of a mutation: pushes the changed services and drops stale caches.
    func servicesChanged(_ services: [ServiceKey]) {
        guard !services.isEmpty else { return }
        store.forget(services)
        push.servicesChanged(services)
    }
}

/// Request ids for server-to-client requests: a node-wide counter, as in Nacos.
final class RequestIdGenerator: Sendable {
    private let next = Atomic<Int64>(1)

    func make() -> String {
        String(next.add(1, ordering: .relaxed).oldValue)
    }
}

/// Counters worth reading at 3 a.m.; exposed through logs today, metrics later.
final class Counters: Sendable {
    let malformedPayloads = Atomic<Int>(0)
    let pushesSent = Atomic<Int>(0)
    let pushesAcked = Atomic<Int>(0)
    let pushRetries = Atomic<Int>(0)
    let pushesAbandoned = Atomic<Int>(0)
    let udpPushesSent = Atomic<Int>(0)
    let udpAcks = Atomic<Int>(0)
    let udpResends = Atomic<Int>(0)

    /// Every counter by name, for the metrics endpoint and the shutdown log.
    var all: [(String, Int)] {
        [
            ("pushesSent", pushesSent.load(ordering: .relaxed)),
            ("pushesAcked", pushesAcked.load(ordering: .relaxed)),
            ("pushRetries", pushRetries.load(ordering: .relaxed)),
            ("pushesAbandoned", pushesAbandoned.load(ordering: .relaxed)),
            ("udpPushesSent", udpPushesSent.load(ordering: .relaxed)),
            ("udpPushAcks", udpAcks.load(ordering: .relaxed)),
            ("udpPushResends", udpResends.load(ordering: .relaxed)),
            ("malformedPayloads", malformedPayloads.load(ordering: .relaxed)),
        ]
    }
}

/// Milliseconds since the Unix epoch (connection ids, `lastRefTime`).
@Sendable func wallClockMillis() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1000)
}

/// Milliseconds on a monotonic clock, for idle tracking.
func monotonicMillis() -> Int64 {
    Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
}
