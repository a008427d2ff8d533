import RegistrarCore

/// One write to the durable store. Each names its row by key, so applying a change twice is
/// harmless (puts replace, deletes of missing rows do nothing).
public enum StoredChange: Sendable, Equatable {
    /// A persistent instance, keyed by (service, ip, port).
    case putInstance(ServiceKey, Instance)
    case deleteInstance(ServiceKey, ip: String, port: Int)
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

    public init() {}
}

/// A store failure, worded for the operator: it names the file and says what SQLite said.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
