import NIOCore
import RegistrarCore
import RegistrarStorage

/// The durable writes the fronts make: persistent instances, service metadata, cluster health
/// checks and namespaces. Each pairs the registry's own checks with the rows to store.
extension DurableWrite {
    static func registerPersistent(_ instance: Instance, into service: ServiceKey) -> DurableWrite {
        DurableWrite(
            scope: .instances(service),
            prepare: { registry throws(RegistryError) in
                try registry.checkPublish(into: service, instances: [instance], ephemeral: false)
                try checkProbeAddress(of: instance)
                return (
                    [.putInstance(service, instance)], restoreInstance(registry, instance.ip, instance.port, service)
                )
            },
            apply: { registry throws(RegistryError) in try registry.publishPersistent(instance, into: service) }
        )
    }

    static func deregisterPersistent(ip: String, port: Int, from service: ServiceKey) -> DurableWrite {
        DurableWrite(
            scope: .instances(service),
            prepare: { registry in
                ([.deleteInstance(service, ip: ip, port: port)], restoreInstance(registry, ip, port, service))
            },
            apply: { registry in registry.withdrawPersistent(ip: ip, port: port, from: service) }
        )
    }

    /// The server probes a persistent instance at its registered address, so that must be a
    /// literal IPv4 or IPv6 address (no host name to resolve) and a real port.
    private static func checkProbeAddress(of instance: Instance) throws(RegistryError) {
        guard (try? SocketAddress(ipAddress: instance.ip, port: 0)) != nil else {
            throw .paramCheck(
                "Param 'ip' is illegal, a persistent instance needs an IPv4 or IPv6 address, got '\(instance.ip)'")
        }
        guard (1...65535).contains(instance.port) else {
            throw .paramCheck(
                "Param 'port' is illegal, a persistent instance needs a port from 1 to 65535, got \(instance.port)")
        }
    }

    private static func restoreInstance(_ registry: Registry, _ ip: String, _ port: Int, _ service: ServiceKey)
        -> [StoredChange]
    {
        guard let previous = registry.persistentInstance(ip: ip, port: port, in: service) else {
            return [.deleteInstance(service, ip: ip, port: port)]
        }
        return [.putInstance(service, previous)]
    }

    static func createService(_ service: ServiceKey, metadata: ServiceMetadata) -> DurableWrite {
        DurableWrite(
            scope: .service(service),
            prepare: { registry throws(RegistryError) in
                try registry.checkCreateService(service, metadata: metadata)
                return ([.putService(service, metadata)], restoreService(registry, service))
            },
            apply: { registry throws(RegistryError) in try registry.createService(service, metadata: metadata) }
        )
    }

    static func updateService(_ service: ServiceKey, metadata: ServiceMetadata) -> DurableWrite {
        DurableWrite(
            scope: .service(service),
            prepare: { registry throws(RegistryError) in
                let stored = try registry.checkUpdateService(service, metadata: metadata)
                return ([.putService(service, stored)], restoreService(registry, service))
            },
            apply: { registry throws(RegistryError) in try registry.updateService(service, metadata: metadata) }
        )
    }

    static func deleteService(_ service: ServiceKey) -> DurableWrite {
        DurableWrite(
            scope: .service(service),
            prepare: { registry throws(RegistryError) in
                try registry.checkDeleteService(service)
                return ([.deleteService(service)], restoreService(registry, service))
            },
            apply: { registry throws(RegistryError) in try registry.deleteService(service) }
        )
    }

    /// The rows of a service as they are now: its metadata (if stored) and cluster checks.
    private static func restoreService(_ registry: Registry, _ service: ServiceKey) -> [StoredChange] {
        var rows: [StoredChange] = [.deleteService(service)]
        if let metadata = registry.storedMetadata(of: service) { rows.append(.putService(service, metadata)) }
        for (cluster, check) in registry.configuredHealthChecks(of: service) {
            rows.append(.putHealthCheck(service, cluster: cluster, check))
        }
        return rows
    }

    static func setHealthCheck(_ check: HealthCheckSpec, of service: ServiceKey, cluster: String) -> DurableWrite {
        let cluster = cluster.isEmpty ? Instance.defaultCluster : cluster
        return DurableWrite(
            scope: .service(service),
            prepare: { registry throws(RegistryError) in
                try registry.checkHealthCheck(check, of: service, cluster: cluster)
                let previous = registry.configuredHealthChecks(of: service)[cluster]
                return (
                    [.putHealthCheck(service, cluster: cluster, check)],
                    [.putHealthCheck(service, cluster: cluster, previous ?? .tcp)]
                )
            },
            apply: { registry throws(RegistryError) in try registry.setHealthCheck(check, of: service, cluster: cluster)
            }
        )
    }

    static func createNamespace(_ info: NamespaceInfo) -> DurableWrite {
        DurableWrite(
            scope: .global,
            prepare: { registry throws(RegistryError) in
                try registry.checkCreateNamespace(info)
                return ([.putNamespace(info)], [.deleteNamespace(id: info.id)])
            },
            apply: { registry throws(RegistryError) in
                try registry.createNamespace(info)
                return []
            }
        )
    }

    static func updateNamespace(_ info: NamespaceInfo) -> DurableWrite {
        DurableWrite(
            scope: .global,
            prepare: { registry throws(RegistryError) in
                try registry.checkUpdateNamespace(info)
                return ([.putNamespace(info)], registry.namespace(info.id).map { [.putNamespace($0)] } ?? [])
            },
            apply: { registry throws(RegistryError) in
                try registry.updateNamespace(info)
                return []
            }
        )
    }

    static func deleteNamespace(_ id: String) -> DurableWrite {
        DurableWrite(
            scope: .global,
            prepare: { registry throws(RegistryError) in
                try registry.checkDeleteNamespace(id)
                return ([.deleteNamespace(id: id)], registry.namespace(id).map { [.putNamespace($0)] } ?? [])
            },
            apply: { registry throws(RegistryError) in
                try registry.deleteNamespace(id)
                return []
            }
        )
    }
}

extension DurableWrite {
    /// A health flip the checker found: stored, so that every member (and a restart) sees it.
    static func probedHealth(_ target: Registry.ProbeTarget, healthy: Bool) -> DurableWrite {
        DurableWrite(
            scope: .instances(target.service),
            prepare: { registry in
                guard let instance = registry.persistentInstance(ip: target.ip, port: target.port, in: target.service),
                    instance.healthy != healthy
                else { return ([], []) }
                return (
                    [.setHealth(target.service, ip: target.ip, port: target.port, healthy: healthy)],
                    [.setHealth(target.service, ip: target.ip, port: target.port, healthy: instance.healthy)]
                )
            },
            apply: { registry in registry.setProbedHealth(of: target, healthy: healthy) }
        )
    }
}
