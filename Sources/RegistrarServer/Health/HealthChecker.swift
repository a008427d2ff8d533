import Logging
import NIOCore
import RegistrarCore

/// Active health checks of persistent instances. Every round (the interval, ±10% jitter) it
/// probes each persistent instance with its cluster's check, at most `concurrency` at a time;
/// `threshold` consecutive results against an instance's current health flip it, and the flip
/// is pushed to the service's subscribers.
///
/// A flip is a durable write: it survives a restart and, with a shared store, every member
/// applies and pushes it. In a cluster only the member `prober` picks probes an instance.
///
/// Threading: `run()` is one task; cancel it to stop.
struct HealthChecker: Sendable {
    struct Settings: Sendable {
        var interval: TimeAmount
        var timeout: TimeAmount
        var concurrency: Int
        var threshold: Int
    }

    let naming: NamingContext
    let group: any EventLoopGroup
    let settings: Settings
    /// Whether this member probes a target; nil: every target.
    let prober: (@Sendable (Registry.ProbeTarget) -> Bool)?
    let counters: DurableCounters
    let logger: Logger

    private struct Streak {
        var healthy: Bool
        var against = 0
    }

    func run() async {
        var streaks: [Registry.ProbeTarget: Streak] = [:]
        while !Task.isCancelled {
            let nanos = Double(settings.interval.nanoseconds) * Double.random(in: 0.9...1.1)
            try? await Task.sleep(nanoseconds: UInt64(max(1, nanos)))
            if Task.isCancelled { return }
            let prober = self.prober
            let targets = naming.store.read { $0.probeTargets() }.filter { prober?($0.target) ?? true }
            counters.healthProbes.add(targets.count)
            let results = await probe(targets)
            var seen = Set<Registry.ProbeTarget>()
            for (target, healthy, outcome) in results {
                seen.insert(target)
                var streak = streaks[target] ?? Streak(healthy: healthy)
                streak.healthy = healthy
                let probedHealthy = outcome == .healthy
                streak.against = probedHealthy == healthy ? 0 : streak.against + 1
                if streak.against >= settings.threshold, await flip(target, to: probedHealthy, outcome: outcome) {
                    streak = Streak(healthy: probedHealthy)
                }
                streaks[target] = streak
            }
            streaks = streaks.filter { seen.contains($0.key) }
        }
    }

    private func probe(_ targets: [(target: Registry.ProbeTarget, check: HealthCheckSpec, healthy: Bool)]) async
        -> [(Registry.ProbeTarget, Bool, HealthProbe.Outcome)]
    {
        await withTaskGroup(of: (Registry.ProbeTarget, Bool, HealthProbe.Outcome).self) { tasks in
            var results: [(Registry.ProbeTarget, Bool, HealthProbe.Outcome)] = []
            var next = targets.makeIterator()
            func start() -> Bool {
                guard let (target, check, healthy) = next.next() else { return false }
                tasks.addTask {
                    let outcome = await HealthProbe.run(
                        check, ip: target.ip, port: target.port, timeout: settings.timeout, group: group)
                    return (target, healthy, outcome)
                }
                return true
            }
            for _ in 0..<max(1, settings.concurrency) where !start() { break }
            for await result in tasks {
                results.append(result)
                _ = start()
            }
            return results
        }
    }

    /// Stores and pushes a flip; false if it could not be stored (the next round tries again).
    private func flip(_ target: Registry.ProbeTarget, to healthy: Bool, outcome: HealthProbe.Outcome) async -> Bool {
        let metadata: Logger.Metadata = [
            "service": "\(target.service)", "instance": "\(target.ip):\(target.port)", "cluster": "\(target.cluster)",
        ]
        do throws(RegistryError) {
            try await naming.write(.probedHealth(target, healthy: healthy))
        } catch {
            logger.warning(
                "cannot store a health flip", metadata: metadata.merging(["error": "\(error.message)"]) { $1 })
            return false
        }
        if case let .unhealthy(reason) = outcome {
            logger.warning("persistent instance turned unhealthy: \(reason)", metadata: metadata)
        } else {
            logger.info("persistent instance is healthy again", metadata: metadata)
        }
        return true
    }
}
