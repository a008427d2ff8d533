/// The service API (create, update, delete, describe) and operator edits of instances.
extension Registry {
    /// What `GET /service` shows: the stored metadata (defaults for an implicit service) and the
    /// clusters that currently have instances.
    public struct ServiceDetail: Sendable, Equatable {
        public var service: ServiceKey
        public var metadata: ServiceMetadata
        /// Clusters with instances or a configured health check, by name, with their check.
        public var clusters: [(name: String, healthCheck: HealthCheckSpec)]

        public static func == (lhs: ServiceDetail, rhs: ServiceDetail) -> Bool {
            lhs.service == rhs.service && lhs.metadata == rhs.metadata
                && lhs.clusters.elementsEqual(rhs.clusters) { $0.name == $1.name && $0.healthCheck == $1.healthCheck }
        }
    }

    /// Node-wide counts for the metrics endpoints.
    public struct Statistics: Sendable, Equatable {
        public var serviceCount = 0
        public var instanceCount = 0
        /// Instances of persistent (v1 `ephemeral=false`) registrations; the rest are ephemeral.
        public var persistentInstanceCount = 0
        public var subscriptionCount = 0
        public var connectionClientCount = 0
        public var ephemeralIPPortClientCount = 0
        public var persistentIPPortClientCount = 0
        /// Copies of clients that other cluster members own, and the instances they hold.
        public var replicaClientCount = 0
        public var replicaInstanceCount = 0
        public var clientCount: Int {
            connectionClientCount + ephemeralIPPortClientCount + persistentIPPortClientCount + replicaClientCount
        }
    }

    /// A service exists for its readers once it has instances or stored metadata (one that
    /// only has subscribers is an internal detail).
    func isVisible(_ service: ServiceKey) -> Bool {
        guard let record = services[service] else { return false }
        return !record.publishers.isEmpty || record.metadata != nil
    }

    /// The checks `createService` makes, without changing anything.
    public func checkCreateService(_ service: ServiceKey, metadata: ServiceMetadata) throws(RegistryError) {
        try validation.check(service: service)
        try check(metadata)
        guard !isVisible(service) else {
            throw .invalidParameter(
                "specified service \(service.groupedName) already exists!",
                detail: RegistryError.Detail.serviceAlreadyExists)
        }
    }

    @discardableResult
    public mutating func createService(_ service: ServiceKey, metadata: ServiceMetadata) throws(RegistryError)
        -> [ServiceKey]
    {
        try checkCreateService(service, metadata: metadata)
        ensureService(service, ephemeral: metadata.ephemeral)
        services[service]!.ephemeral = metadata.ephemeral
        services[service]!.metadata = metadata
        touch(service)
        return [service]
    }

    /// Replaces the stored metadata of an existing service. Its kind does not change.
    /// The metadata `updateService` would store (the service keeps its kind), after its checks.
    public func checkUpdateService(_ service: ServiceKey, metadata: ServiceMetadata) throws(RegistryError)
        -> ServiceMetadata
    {
        try check(metadata)
        guard isVisible(service) else { throw Self.serviceNotFound(service) }
        var metadata = metadata
        metadata.ephemeral = services[service]!.ephemeral
        return metadata
    }

    @discardableResult
    public mutating func updateService(_ service: ServiceKey, metadata: ServiceMetadata) throws(RegistryError)
        -> [ServiceKey]
    {
        let stored = try checkUpdateService(service, metadata: metadata)
        services[service]!.metadata = stored
        touch(service)
        return [service]
    }

    /// Deletes a service that has no instances left.
    public func checkDeleteService(_ service: ServiceKey) throws(RegistryError) {
        guard isVisible(service) else { throw Self.serviceNotFound(service) }
        guard services[service]!.publishers.isEmpty else {
            throw .invalidParameter(
                "Service \(service.groupedName) is not empty, can't be delete. Please unregister instance first",
                detail: RegistryError.Detail.serviceDeleteFailure)
        }
    }

    @discardableResult
    public mutating func deleteService(_ service: ServiceKey) throws(RegistryError) -> [ServiceKey] {
        try checkDeleteService(service)
        healthChecks.removeValue(forKey: service)
        services[service]!.metadata = nil
        touch(service)
        dropIfUnused(service)
        return [service]
    }

    private static func serviceNotFound(_ service: ServiceKey) -> RegistryError {
        .invalidParameter("service \(service.groupedName) not found!", detail: RegistryError.Detail.serviceNotExist)
    }

    /// The metadata stored through the service API, if any.
    public func storedMetadata(of service: ServiceKey) -> ServiceMetadata? { services[service]?.metadata }

    public func serviceDetail(_ service: ServiceKey) throws(RegistryError) -> ServiceDetail {
        guard isVisible(service), let record = services[service] else {
            throw .invalidParameter(
                "service not found, namespace: \(service.namespace), serviceName: \(service.groupedName)",
                detail: RegistryError.Detail.serviceNotExist)
        }
        let names = Set(allInstances(of: service).map(\.clusterName)).union(healthChecks[service]?.keys ?? [:].keys)
            .sorted()
        let clusters = names.map { (name: $0, healthCheck: healthCheck(of: service, cluster: $0)) }
        return ServiceDetail(
            service: service, metadata: record.metadata ?? ServiceMetadata(ephemeral: record.ephemeral),
            clusters: clusters)
    }

    public func statistics() -> Statistics {
        var statistics = Statistics()
        for record in services.values where !record.publishers.isEmpty || record.metadata != nil {
            statistics.serviceCount += 1
        }
        for client in clients.values {
            statistics.instanceCount += client.publications.values.reduce(0) { $0 + $1.count }
            statistics.subscriptionCount += client.subscriptions.count
            switch client.kind {
            case .connection: statistics.connectionClientCount += 1
            case .ipPort(ephemeral: true): statistics.ephemeralIPPortClientCount += 1
            case .ipPort(ephemeral: false):
                statistics.persistentIPPortClientCount += 1
                statistics.persistentInstanceCount += client.publications.values.reduce(0) { $0 + $1.count }
            case .replica:
                statistics.replicaClientCount += 1
                statistics.replicaInstanceCount += client.publications.values.reduce(0) { $0 + $1.count }
            }
        }
        return statistics
    }

    // MARK: Instances as stored

    /// Every instance of the service with operator edits applied, disabled ones included.
    func allInstances(of service: ServiceKey) -> [Instance] {
        guard let record = services[service] else { return [] }
        return record.publishers.flatMap { clients[$0]?.publications[service] ?? [] }.map(record.effective)
    }

    /// One instance as stored (disabled ones too), or Nacos's 404 messages.
    public func instance(in service: ServiceKey, ip: String, port: Int, cluster: String) throws(RegistryError)
        -> Instance
    {
        let cluster = cluster.isEmpty ? Instance.defaultCluster : cluster
        let inCluster = allInstances(of: service).filter { $0.clusterName == cluster }
        guard !inCluster.isEmpty else {
            throw .notFound("no ips found for cluster \(cluster) in service \(service.groupedName)")
        }
        guard let found = inCluster.first(where: { $0.ip == ip && $0.port == port }) else {
            throw .notFound("no matched ip found!")
        }
        return found
    }

    // MARK: Operator edits

    /// v1 `PUT /instance`: sets the edit of `address` in an existing service. The instance
    /// itself need not exist (yet); the edit applies once it does.
    @discardableResult
    public mutating func editInstance(_ service: ServiceKey, at address: InstanceAddress, overlay: InstanceOverlay)
        throws(RegistryError) -> [ServiceKey]
    {
        try check(overlay)
        guard isVisible(service) else {
            throw .invalidParameter(
                "service not found, namespace: \(service.namespace), service: \(service.groupedName)",
                detail: RegistryError.Detail.instanceError)
        }
        services[service]!.overlays[address] = overlay
        servicesWithOverlays.insert(service)
        touch(service)
        refileHeartbeatDeadlines(of: service, at: address)
        return [service]
    }

    /// v1 `PATCH /instance`: changes only the given fields of an existing instance's edit.
    @discardableResult
    public mutating func patchInstance(
        _ service: ServiceKey, at address: InstanceAddress, weight: Double?, enabled: Bool?, metadata: [String: String]?
    ) throws(RegistryError) -> [ServiceKey] {
        _ = try instance(in: service, ip: address.ip, port: address.port, cluster: address.cluster)
        var overlay = services[service]!.overlays[address] ?? InstanceOverlay()
        if let weight { overlay.weight = weight }
        if let enabled { overlay.enabled = enabled }
        if let metadata { overlay.metadata = metadata }
        return try editInstance(service, at: address, overlay: overlay)
    }

    private func check(_ overlay: InstanceOverlay) throws(RegistryError) {
        if let weight = overlay.weight, !(weight.isFinite && (0...10000).contains(weight)) {
            throw .invalidParameter("instance format invalid: The weights range from 0.0 to 10000.0")
        }
        try validation.checkMetadata(overlay.metadata)
    }

    private func check(_ metadata: ServiceMetadata) throws(RegistryError) {
        guard metadata.protectThreshold.isFinite, (0...1).contains(metadata.protectThreshold) else {
            throw .invalidParameter("Param 'protectThreshold' is illegal, the value should be between 0 and 1.")
        }
        guard ["none", "label"].contains(metadata.selector.type) else {
            throw .invalidParameter("not match any type of selector!")
        }
        try validation.checkMetadata(metadata.metadata)
    }
}
