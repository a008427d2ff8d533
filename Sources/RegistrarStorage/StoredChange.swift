import RegistrarCore

/// One write to the durable store. Each names its row by key, so applying a change twice is
/// harmless (puts replace, deletes of missing rows do nothing).
///
/// Codable: the PostgreSQL store's change log holds each committed batch as JSON, and every
/// member applies it. A new case is a new key in that JSON; an older member that meets one it
/// does not know stops following and says so (see `ChangeLogEntry`).
public enum StoredChange: Sendable, Equatable, Codable {
    /// A persistent instance, keyed by (service, ip, port).
    case putInstance(ServiceKey, Instance)
    case deleteInstance(ServiceKey, ip: String, port: Int)
    /// The health a probe found for a persistent instance (its other fields unchanged).
    case setHealth(ServiceKey, ip: String, port: Int, healthy: Bool)
    /// A service's metadata set through the service API.
    case putService(ServiceKey, ServiceMetadata)
    case deleteService(ServiceKey)
    case putNamespace(NamespaceInfo)
    case deleteNamespace(id: String)
    /// The health check of one cluster of a service.
    case putHealthCheck(ServiceKey, cluster: String, HealthCheckSpec)
    /// Users, roles and permissions.
    case access(AccessChange)
}

/// Everything the store holds, as read at startup.
public struct StoredState: Sendable {
    public var namespaces: [NamespaceInfo] = []
    public var services: [(key: ServiceKey, metadata: ServiceMetadata)] = []
    public var instances: [(service: ServiceKey, instance: Instance)] = []
    public var healthChecks: [(service: ServiceKey, cluster: String, check: HealthCheckSpec)] = []
    public var access = AccessModel()
    /// The change-log position this state includes every change up to (a shared store only).
    public var position: Int64?

    public init() {}

    /// The naming state as a list of puts, in an order that applies cleanly to an empty registry.
    public var changes: [StoredChange] {
        namespaces.map { .putNamespace($0) }
            + services.map { .putService($0.key, $0.metadata) }
            + healthChecks.map { .putHealthCheck($0.service, cluster: $0.cluster, $0.check) }
            + instances.map { .putInstance($0.service, $0.instance) }
    }

    /// Everything, access model included, as puts (what `registrar db import` writes).
    public var allChanges: [StoredChange] {
        let users = access.users.sorted { $0.key < $1.key }.map { AccessChange.putUser($0.key, passwordHash: $0.value) }
        let bindings = access.roles.sorted { ($0.role, $0.username) < ($1.role, $1.username) }.map(AccessChange.bind)
        let grants = access.permissions.sorted { ($0.role, $0.resource, $0.action) < ($1.role, $1.resource, $1.action) }
            .map(AccessChange.grant)
        return changes + (users + bindings + grants).map(StoredChange.access)
    }

    /// Whether the store holds nothing at all.
    public var isEmpty: Bool {
        namespaces.isEmpty && services.isEmpty && instances.isEmpty && healthChecks.isEmpty
            && access.users.isEmpty && access.roles.isEmpty && access.permissions.isEmpty
    }
}

/// A store failure, worded for the operator: it names the file or database and says what it said.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// The store could not be reached or did not answer in time (the write was not acknowledged).
    public let isUnavailable: Bool

    public init(_ description: String, unavailable: Bool = false) {
        self.description = description
        self.isUnavailable = unavailable
    }
}
