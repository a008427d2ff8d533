import RegistrarCore
import RegistrarStorage

/// Applies stored rows to the registry: at startup (the whole state) and, with a shared store,
/// for every batch in the change log, whichever member wrote it. A put replaces what is there,
/// so applying a change the registry already holds is harmless.
enum DurableApply {
    /// Applies `change`; returns the services whose data it changed. Access changes are not the
    /// registry's: the caller hands them to access control.
    static func apply(_ change: StoredChange, to registry: inout Registry) throws(RegistryError) -> [ServiceKey] {
        switch change {
        case let .putInstance(service, instance):
            guard registry.persistentInstance(ip: instance.ip, port: instance.port, in: service) != instance else {
                return []
            }
            return try registry.publishPersistent(instance, into: service)
        case let .deleteInstance(service, ip, port):
            return registry.withdrawPersistent(ip: ip, port: port, from: service)
        case let .setHealth(service, ip, port, healthy):
            guard let instance = registry.persistentInstance(ip: ip, port: port, in: service) else { return [] }
            return registry.setProbedHealth(
                of: Registry.ProbeTarget(service: service, ip: ip, port: port, cluster: instance.clusterName),
                healthy: healthy)
        case let .putService(service, metadata):
            guard registry.storedMetadata(of: service) != metadata else { return [] }
            if (try? registry.checkUpdateService(service, metadata: metadata)) != nil {
                return try registry.updateService(service, metadata: metadata)
            }
            return try registry.createService(service, metadata: metadata)
        case let .deleteService(service):
            guard registry.exists(service), registry.storedMetadata(of: service) != nil else { return [] }
            return try registry.deleteService(service)
        case let .putNamespace(info):
            guard registry.namespace(info.id) != info else { return [] }
            if registry.namespace(info.id) == nil {
                try registry.createNamespace(info)
            } else {
                try registry.updateNamespace(info)
            }
            return []
        case let .deleteNamespace(id):
            guard registry.namespace(id) != nil else { return [] }
            try registry.deleteNamespace(id)
            return []
        case let .putHealthCheck(service, cluster, check):
            guard registry.configuredHealthChecks(of: service)[cluster] != check else { return [] }
            return try registry.setHealthCheck(check, of: service, cluster: cluster)
        case .access:
            return []
        }
    }

    /// The changes that turn the registry's durable contents into `state`: deletes of what
    /// `state` lacks, then puts of what differs.
    static func changes(from current: Registry.DurableContents, to state: StoredState) -> [StoredChange] {
        var deletes: [StoredChange] = []
        let instances = Set(state.instances.map { InstanceKey($0.service, $0.instance.ip, $0.instance.port) })
        for (service, list) in current.instances {
            for instance in list where !instances.contains(InstanceKey(service, instance.ip, instance.port)) {
                deletes.append(.deleteInstance(service, ip: instance.ip, port: instance.port))
            }
        }
        let services = Set(state.services.map(\.key))
        for service in current.services.keys where !services.contains(service) {
            deletes.append(.deleteService(service))
        }
        let namespaces = Set(state.namespaces.map(\.id))
        for info in current.namespaces where !namespaces.contains(info.id) {
            deletes.append(.deleteNamespace(id: info.id))
        }
        return deletes + state.changes
    }

    private struct InstanceKey: Hashable {
        var service: ServiceKey
        var ip: String
        var port: Int

        init(_ service: ServiceKey, _ ip: String, _ port: Int) {
            self.service = service
            self.ip = ip
            self.port = port
        }
    }
}
