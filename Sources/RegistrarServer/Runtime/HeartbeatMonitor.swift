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
            for (client, service) in report.turnedUnhealthy {
                runtime.logger.info("v1 instance \(client) of \(service) is unhealthy: no heartbeat within its timeout")
            }
            for (client, service) in report.expired {
                runtime.logger.info("v1 instance \(client) of \(service) removed: no heartbeat within its delete timeout")
            }
            runtime.servicesChanged(report.changed)
        }
    }

    func stop() {
        task.cancel()
    }
}
