/// Persistent instances (`ephemeral=false`): each belongs to the client `ip:port#false`, which
/// no connection or heartbeat keeps alive. They stay until deregistered; the server's own
/// health checks (`HealthCheckSpec`, per cluster) decide whether they are healthy.
///
/// The registry holds them in memory like any other publication; the runtime writes them to
/// the durable store first and applies them here only once they are on disk.
extension Registry {
    /// A persistent instance as the health checker sees it.
    public struct ProbeTarget: Sendable, Hashable {
        public var service: ServiceKey
        public var ip: String
        public var port: Int
        public var cluster: String

        public init(service: ServiceKey, ip: String, port: Int, cluster: String) {
            self.service = service
            self.ip = ip
            self.port = port
            self.cluster = cluster
        }
    }

    /// Publishes (or replaces) the persistent instance `instance.ip:instance.port` in `service`.
    /// A refused registration leaves no client behind.
    @discardableResult
    public mutating func publishPersistent(_ instance: Instance, into service: ServiceKey) throws(RegistryError)
        -> [ServiceKey]
    {
        let id = IPPortClientID.make(ip: instance.ip, port: instance.port, ephemeral: false)
        addClient(id, kind: .ipPort(ephemeral: false))
        do throws(RegistryError) {
            return try publish(client: id, service: service, instances: [instance], ephemeral: false)
        } catch {
            removeClientIfIdle(id)
            throw error
        }
    }

    /// Removes the persistent instance `ip:port` from `service` (nothing if there is none).
    @discardableResult
    public mutating func withdrawPersistent(ip: String, port: Int, from service: ServiceKey) -> [ServiceKey] {
        withdrawIPPortClient(IPPortClientID.make(ip: ip, port: port, ephemeral: false), from: service)
    }

    /// The persistent instance `ip:port` of `service` as registered (health as last probed).
    public func persistentInstance(ip: String, port: Int, in service: ServiceKey) -> Instance? {
        clients[IPPortClientID.make(ip: ip, port: port, ephemeral: false)]?.publications[service]?.first
    }

    /// Whether `client` publishes anything into `service`.
    public func publishes(_ client: ClientID, into service: ServiceKey) -> Bool {
        clients[client]?.publications[service] != nil
    }

    /// Records a probe result; returns the service if the instance's health changed.
    @discardableResult
    public mutating func setProbedHealth(of target: ProbeTarget, healthy: Bool) -> [ServiceKey] {
        let id = IPPortClientID.make(ip: target.ip, port: target.port, ephemeral: false)
        return setHealth(of: id, in: target.service, healthy: healthy) ? [target.service] : []
    }

    /// An operator's health mark (`PUT …/health/instance`): only for a persistent instance whose
    /// cluster is not probed (`NONE`); a probe would overwrite the mark, and an ephemeral
    /// instance is healthy exactly while its client lives.
    public mutating func markHealth(
        of target: ProbeTarget, healthy: Bool
    ) throws(RegistryError) -> [ServiceKey] {
        guard let instance = persistentInstance(ip: target.ip, port: target.port, in: target.service),
            instance.clusterName == target.cluster
        else {
            throw .notFound(
                "no persistent instance \(target.ip):\(target.port) in cluster \(target.cluster) of "
                    + "\(target.service.groupedName): only persistent instances take a health mark")
        }
        let check = healthCheck(of: target.service, cluster: target.cluster)
        guard check.kind == .none else {
            throw .invalidParameter(
                "health check is still working: cluster \(target.cluster) of \(target.service.groupedName) is "
                    + "probed by \(check.kind.rawValue); set its health checker to NONE to mark health by hand")
        }
        return setProbedHealth(of: target, healthy: healthy)
    }

    /// Every persistent instance with the check its cluster asks for (`NONE` ones left out).
    public func probeTargets() -> [(target: ProbeTarget, check: HealthCheckSpec, healthy: Bool)] {
        var targets: [(ProbeTarget, HealthCheckSpec, Bool)] = []
        for client in clients.values where client.kind == .ipPort(ephemeral: false) {
            for (service, instances) in client.publications {
                for instance in instances {
                    let check = healthCheck(of: service, cluster: instance.clusterName)
                    guard check.kind != .none else { continue }
                    targets.append(
                        (
                            ProbeTarget(
                                service: service, ip: instance.ip, port: instance.port, cluster: instance.clusterName),
                            check, instance.healthy
                        ))
                }
            }
        }
        return targets
    }

    // MARK: Cluster health-check settings

    /// The check for a cluster of a service: the one set through the cluster API, else TCP.
    public func healthCheck(of service: ServiceKey, cluster: String) -> HealthCheckSpec {
        healthChecks[service]?[cluster.isEmpty ? Instance.defaultCluster : cluster] ?? .tcp
    }

    /// The checks set through the cluster API for a service, by cluster.
    public func configuredHealthChecks(of service: ServiceKey) -> [String: HealthCheckSpec] {
        healthChecks[service] ?? [:]
    }

    /// The checks `setHealthCheck` makes, without changing anything.
    public func checkHealthCheck(_ check: HealthCheckSpec, of service: ServiceKey, cluster: String)
        throws(RegistryError)
    {
        try validation.check(service: service)
        try validation.checkCluster(cluster)
        try check.validate()
    }

    /// Sets the health check of a cluster (`PUT /nacos/v1/ns/cluster`). The service need not
    /// have instances in that cluster yet. Returns the service, whose detail view changed.
    @discardableResult
    public mutating func setHealthCheck(_ check: HealthCheckSpec, of service: ServiceKey, cluster: String)
        throws(RegistryError) -> [ServiceKey]
    {
        try checkHealthCheck(check, of: service, cluster: cluster)
        healthChecks[service, default: [:]][cluster.isEmpty ? Instance.defaultCluster : cluster] = check
        touch(service)
        return [service]
    }
}

/// How the server checks the persistent instances of one cluster. Probes only ever go to the
/// instance's own registered ip:port.
public struct HealthCheckSpec: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Healthy if a TCP connection to ip:port opens (the default).
        case tcp = "TCP"
        /// Healthy if `GET path` on ip:port answers the expected status (any 2xx if none is set).
        case http = "HTTP"
        /// No check: the instance keeps the health it was registered with.
        case none = "NONE"
    }

    public var kind: Kind
    /// The HTTP path (HTTP only), starting with `/`.
    public var path: String
    /// The status an HTTP check expects; nil accepts any 2xx.
    public var expectedStatus: Int?

    public init(kind: Kind, path: String = "/", expectedStatus: Int? = nil) {
        self.kind = kind
        self.path = path.isEmpty ? "/" : path
        self.expectedStatus = expectedStatus
    }

    public static let tcp = HealthCheckSpec(kind: .tcp)

    func validate() throws(RegistryError) {
        guard kind == .http else { return }
        guard path.hasPrefix("/"), path.utf8.count <= 512, !path.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            throw .invalidParameter(
                "health check path must start with '/', hold no spaces and be at most 512 bytes, got '\(path)'")
        }
        if let expectedStatus, !(100...599).contains(expectedStatus) {
            throw .invalidParameter(
                "expectedResponseCode must be an HTTP status from 100 to 599, got \(expectedStatus)")
        }
    }
}

// MARK: Everything durable, for a member that reloads it

extension Registry {
    /// The durable part of the registry: what a durable store would hold for it.
    public struct DurableContents: Sendable {
        public var namespaces: [NamespaceInfo] = []
        public var services: [ServiceKey: ServiceMetadata] = [:]
        public var healthChecks: [ServiceKey: [String: HealthCheckSpec]] = [:]
        public var instances: [ServiceKey: [Instance]] = [:]
    }

    public func durableContents() -> DurableContents {
        var contents = DurableContents()
        contents.namespaces = Array(namespaces.values)
        for (key, record) in services {
            if let metadata = record.metadata { contents.services[key] = metadata }
        }
        contents.healthChecks = healthChecks
        for client in clients.values where client.kind == .ipPort(ephemeral: false) {
            for (service, instances) in client.publications { contents.instances[service, default: []] += instances }
        }
        return contents
    }
}
