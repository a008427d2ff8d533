import Logging
import NIOCore
import RegistrarCore
import Synchronization

/// Applies the v1 heartbeat deadlines: every `interval` the registry's sweep marks silent
/// instances unhealthy, removes expired ones, ends lapsed UDP-push subscriptions and forgets
/// orphaned operator edits; the changes are pushed like any other.
///
/// Nacos checks every 5 s, so its transitions lag by up to 5 s; the default scan here is 1 s.
///
/// Threading: the sweep runs on `loop`, holding the registry lock for one pass.
final class HeartbeatMonitor: Sendable {
    private let naming: NamingContext
    private let interval: TimeAmount
    private let policy: Registry.LeasePolicy
    private let logger: Logger
    private let loop: any EventLoop
    private let task = Mutex<RepeatedTask?>(nil)

    init(
        naming: NamingContext, interval: TimeAmount, udpSubscriberLease: TimeAmount, logger: Logger, loop: any EventLoop
    ) {
        self.naming = naming
        self.interval = interval
        var policy = Registry.LeasePolicy()
        policy.subscriberLease = udpSubscriberLease.nanoseconds / 1_000_000
        self.policy = policy
        self.logger = logger
        self.loop = loop
    }

    func start() {
        let sweep = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            let report = naming.store.withRegistry { $0.sweep(now: monotonicMillis(), policy: policy) }
            Self.log(report.turnedUnhealthy, "unhealthy: no heartbeat within its timeout", logger)
            Self.log(report.expired, "removed: no heartbeat within its delete timeout", logger)
            naming.changes.servicesChanged(report.changed)
        }
        task.withLock { $0 = sweep }
    }

    func stop() {
        task.withLock { $0.take() }?.cancel()
    }

    /// One line per instance, or a summary with a few examples when many change at once (a
    /// network partition would otherwise flood the log).
    private static func log(_ events: [(client: ClientID, service: ServiceKey)], _ what: String, _ logger: Logger) {
        let examples = 5
        if events.count <= examples {
            for (client, service) in events { logger.info("v1 instance \(client) of \(service) is \(what)") }
        } else {
            let sample = events.prefix(examples).map { "\($0.client) of \($0.service)" }.joined(separator: ", ")
            logger.warning("\(events.count) v1 instances are \(what); for example \(sample)")
        }
    }
}
