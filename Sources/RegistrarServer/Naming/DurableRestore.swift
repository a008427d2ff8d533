import Logging
import RegistrarCore
import RegistrarStorage

/// Loads what the durable store holds into a fresh registry at startup, before the node is
/// ready. A row that today's rules refuse (say, a metadata limit lowered since) is skipped and
/// logged, never deleted: the store stays the source of truth.
enum DurableRestore {
    struct Report: Sendable, CustomStringConvertible {
        var namespaces = 0
        var services = 0
        var instances = 0
        var healthChecks = 0
        var skipped = 0

        var description: String {
            "\(instances) persistent instance(s), \(services) service(s) with metadata, \(namespaces) namespace(s), \(healthChecks) cluster check(s)"
                + (skipped > 0 ? "; \(skipped) row(s) skipped" : "")
        }

        mutating func count(_ change: StoredChange) {
            switch change {
            case .putNamespace: namespaces += 1
            case .putService: services += 1
            case .putHealthCheck: healthChecks += 1
            case .putInstance: instances += 1
            default: break
            }
        }
    }

    static func load(_ state: StoredState, into registry: inout Registry, logger: Logger) -> Report {
        var report = Report()
        for change in state.changes {
            do throws(RegistryError) {
                _ = try DurableApply.apply(change, to: &registry)
                report.count(change)
            } catch {
                report.skipped += 1
                if report.skipped <= 20 {
                    logger.warning("skipping a stored row that is refused today: \(change): \(error.message)")
                }
            }
        }
        return report
    }
}
