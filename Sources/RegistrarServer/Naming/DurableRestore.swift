import Logging
import RegistrarCore
import RegistrarStorage

/// Loads what the durable store holds into a fresh registry at startup, before the node is
/// ready. A row that today's rules refuse (say, a metadata limit lowered since) is skipped and
/// logged, never deleted: the file stays the source of truth.
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
    }

    static func load(_ state: StoredState, into registry: inout Registry, logger: Logger) -> Report {
        var report = Report()
        func attempt(_ what: @autoclosure () -> String, _ body: (inout Registry) throws(RegistryError) -> Void) -> Bool
        {
            do throws(RegistryError) {
                try body(&registry)
                return true
            } catch {
                report.skipped += 1
                if report.skipped <= 20 {
                    logger.warning("skipping a stored row that is refused today: \(what()): \(error.message)")
                }
                return false
            }
        }
        for info in state.namespaces
        where attempt("namespace \(info.id)", { registry throws(RegistryError) in try registry.createNamespace(info) })
        {
            report.namespaces += 1
        }
        for (service, metadata) in state.services
        where attempt(
            "service \(service)",
            { registry throws(RegistryError) in try registry.createService(service, metadata: metadata) })
        {
            report.services += 1
        }
        for (service, cluster, check) in state.healthChecks
        where attempt(
            "health check of \(service) cluster \(cluster)",
            { registry throws(RegistryError) in try registry.setHealthCheck(check, of: service, cluster: cluster) })
        {
            report.healthChecks += 1
        }
        for (service, instance) in state.instances
        where attempt(
            "instance \(instance.ip):\(instance.port) of \(service)",
            { registry throws(RegistryError) in try registry.publishPersistent(instance, into: service) })
        {
            report.instances += 1
        }
        return report
    }
}
