import Logging
import NIOCore
import RegistrarCore

/// Applies the v1 heartbeat deadlines: every `heartbeatScanInterval` the registry's sweep
/// marks silent instances unhealthy, removes expired ones, ends lapsed UDP-push subscriptions
/// and forgets orphaned operator edits; the changes are pushed like any other.
///
/// Nacos checks every 5 s, so its transitions lag by up to 5 s; the default scan here is 1 s.
///
/// Threading: the sweep runs on `loop`, holding the registry lock for one pass.
final class HeartbeatMonitor: Sendable {
    private let task: RepeatedTask

    init(runtime: NamingRuntime, loop: any EventLoop) {
        let interval = runtime.configuration.heartbeatScanInterval
        let policy = {
            var policy = Registry.LeasePolicy()
            policy.subscriberLease = runtime.configuration.udpSubscriberLease.nanoseconds / 1_000_000
            return policy
        }()
        self.task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let report = runtime.store.withRegistry { $0.sweep(now: monotonicMillis(), policy: policy) }
            HeartbeatMonitor.log(report.turnedUnhealthy, "unhealthy: no heartbeat within its timeout", runtime.logger)
            HeartbeatMonitor.log(report.expired, "removed: no heartbeat within its delete timeout", runtime.logger)
            runtime.servicesChanged(report.changed)
        }
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

    func stop() {
        task.cancel()
    }
}
