import Foundation
import RegistrarCore

/// The instance operations every HTTP API serves (v1, the v2 Open API, the v3 client and admin
/// APIs): each reads Nacos's parameters, checks them and changes or reads the registry. The
/// routes differ only in their paths and in how they wrap the answer.
///
/// An instance registered over HTTP belongs to the client `ip:port#true`, which lives by
/// heartbeats (5/15/30 s by default, or the instance's `preserved.*` metadata); see
/// `Registry.sweep`. With `ephemeral=false` it is persistent, answered once on disk.
///
/// Threading: thread-safe; the registry is behind its lock.
struct InstanceOperations: Sendable {
    let naming: NamingContext

    func register(_ parameters: V1Parameters) async throws {
        let service = try parameters.service(validation: naming.validation)
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        let instance = Instance(
            ip: ip, port: port, weight: try parameters.weight() ?? 1.0,
            healthy: parameters.bool("healthy", default: true),
            enabled: enabled(parameters) ?? true,
            clusterName: parameters.optional("clusterName") ?? parameters.optional("cluster"),
            metadata: try parameters.metadata() ?? [:]
        )
        if parameters.bool("ephemeral", default: true) {
            try publish(instance, into: service)
        } else {
            try await naming.write(.registerPersistent(instance, into: service))
        }
    }

    /// `enabled`, or the legacy `enable` that the Java and Python clients send.
    func enabled(_ parameters: V1Parameters) -> Bool? {
        guard parameters.optional("enabled") != nil || parameters.optional("enable") != nil else { return nil }
        return parameters.optional("enabled") != nil
            ? parameters.bool("enabled", default: true) : parameters.bool("enable", default: true)
    }

    func publish(_ instance: Instance, into service: ServiceKey) throws {
        let now = monotonicMillis()
        try naming.mutate { (registry) throws(RegistryError) in
            try registry.publishBeating(instance, into: service, now: now)
        }
    }

    /// A heartbeat of the HTTP client `ip:port#true` for `service`; pushes what it changed.
    func heartbeat(ip: String, port: Int, service: ServiceKey) -> Registry.HeartbeatOutcome {
        let client = IPPortClientID.make(ip: ip, port: port, ephemeral: true)
        let outcome = naming.store.withRegistry {
            $0.heartbeat(client: client, service: service, now: monotonicMillis())
        }
        if case .refreshed(let changed, _) = outcome { naming.changes.servicesChanged(changed) }
        return outcome
    }

    /// Deregisters an instance. Without an `ephemeral` parameter, a persistent instance at
    /// that address is the one meant when there is no heartbeat one (Nacos would answer `ok`
    /// and remove nothing).
    func deregister(_ parameters: V1Parameters) async throws {
        let service = try parameters.service(validation: naming.validation)
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        _ = try parameters.weight()
        let heartbeatClient = IPPortClientID.make(ip: ip, port: port, ephemeral: true)
        let persistent =
            parameters.optional("ephemeral") == nil
            ? naming.store.read {
                $0.persistentInstance(ip: ip, port: port, in: service) != nil
                    && !$0.publishes(heartbeatClient, into: service)
            }
            : !parameters.bool("ephemeral", default: true)
        if persistent {
            try await naming.write(.deregisterPersistent(ip: ip, port: port, from: service))
        } else {
            // An SDK connection's instance leaves with that client (deregister or disconnect);
            // answering "ok" and leaving it listed, as Nacos does, would mislead the operator.
            let ownedElsewhere = naming.store.read { registry in
                !registry.publishes(heartbeatClient, into: service)
                    && registry.snapshot(of: service, filter: .init(includeDisabled: true)).hosts.contains {
                        $0.instance.ip == ip && $0.instance.port == port
                    }
            }
            if ownedElsewhere {
                throw V1Error(
                    .conflict,
                    "instance \(ip):\(port) of \(service) is registered by a connected SDK client: it leaves when "
                        + "that client deregisters or disconnects; disable it (enabled=false) to take it out of lists",
                    code: .resourceConflict)
            }
            naming.mutate { $0.withdrawIPPortClient(heartbeatClient, from: service) }
        }
    }

    /// The instance's address; `legacyCluster` also reads v1's `cluster` parameter.
    func address(_ parameters: V1Parameters, legacyCluster: Bool) throws -> InstanceAddress {
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        let cluster =
            parameters.optional("clusterName") ?? (legacyCluster ? parameters.optional("cluster") : nil)
            ?? Instance.defaultCluster
        try naming.validation.checkCluster(cluster)
        return InstanceAddress(ip: ip, port: port, cluster: cluster)
    }

    /// An operator edit (weight, enabled, metadata) of an instance of an existing service;
    /// fields not given take their defaults, as in Nacos's `PUT`.
    func update(_ parameters: V1Parameters) throws {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: true)
        let overlay = InstanceOverlay(
            weight: try parameters.weight() ?? 1.0, enabled: enabled(parameters) ?? true,
            metadata: try parameters.metadata() ?? [:])
        try naming.mutate { (registry) throws(RegistryError) in
            try registry.editInstance(service, at: address, overlay: overlay)
        }
    }

    /// Changes only the given fields of an existing instance.
    func patch(_ parameters: V1Parameters) throws {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: true)
        let weight = try parameters.weight()
        let metadata = try parameters.metadata()
        let enabled = enabled(parameters)
        try naming.mutate { (registry) throws(RegistryError) in
            try registry.patchInstance(service, at: address, weight: weight, enabled: enabled, metadata: metadata)
        }
    }

    func detail(_ parameters: V1Parameters) throws -> (Instance, ServiceKey) {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: false)
        let instance = try naming.store.read { (registry) throws(RegistryError) in
            try registry.instance(in: service, ip: address.ip, port: address.port, cluster: address.cluster)
        }
        return (instance, service)
    }

    /// The service and the filter of an instance list (`clusters`, `healthyOnly`).
    func listQuery(_ parameters: V1Parameters) throws -> (ServiceKey, SnapshotFilter) {
        let service = try parameters.service(validation: naming.validation)
        let clusters = parameters.optional("clusters") ?? parameters.optional("clusterName") ?? ""
        try naming.validation.checkClusters(clusters)
        let healthyOnly = parameters.optional("healthyOnly")?.lowercased() == "true"
        return (service, SnapshotFilter(clusters: clusters, healthyOnly: healthyOnly))
    }
}
