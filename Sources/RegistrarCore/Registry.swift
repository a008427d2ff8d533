import HeapModule

/// The 2.x naming model in one aggregate: service singletons, clients, and the publisher and
/// subscriber indexes that join them.
///
/// Every mutation returns the services it changed; the runtime turns those into pushes (and,
/// later, replication). The registry does no I/O and knows nothing of wire formats.
///
/// Threading: not thread-safe. Its owner serializes access (the server keeps it behind a lock).
public struct Registry: Sendable {
    struct ServiceRecord: Sendable {
        var ephemeral: Bool
        var revision: UInt64
        var lastRefTime: Int64
        var publishers: Set<ClientID> = []
        var subscribers: [ClientID: String] = [:]
        /// Set when the service was created or updated through the service API: it then lives
        /// on without instances, and its protection threshold applies.
        var metadata: ServiceMetadata?
        /// Operator edits of instances (v1 `PUT`/`PATCH`), applied over what clients publish.
        var overlays: [InstanceAddress: InstanceOverlay] = [:]
    }

    struct ClientRecord: Sendable {
        var kind: ClientKind
        var publications: [ServiceKey: [Instance]] = [:]
        var subscriptions: Set<ServiceKey> = []
        /// Heartbeat clients only: the last beat per published service (monotonic ms).
        var lastBeat: [ServiceKey: Int64] = [:]
        /// Heartbeat clients only: the last time the client read or wrote (monotonic ms).
        var lastActive: Int64 = 0
        /// Cluster mode: the owner's version of this client (0: never replicated).
        var revision: UInt64 = 0
        /// Replicas only: the member that owns the client, and when its lease runs out (monotonic ms).
        var owner: String?
        var leaseUntil: Int64 = 0
    }

    var services: [ServiceKey: ServiceRecord] = [:]
    var clients: [ClientID: ClientRecord] = [:]
    /// The `ip:port#true` clients, which live by heartbeats and leases rather than connections.
    var heartbeatClients: Set<ClientID> = []
    /// Heartbeat clients that hold subscriptions (v1 UDP push), whose leases the sweep checks.
    var leasedSubscribers: Set<ClientID> = []
    /// When each heartbeat publication is next due for a check, earliest first. Entries are
    /// lazy: a beat does not move its entry; the sweep re-files an entry that is not due yet.
    /// So a sweep costs only the entries that come due, not one look at every instance.
    var deadlines = Heap<HeartbeatDeadline>()
    /// Services that hold operator edits, so the sweep need not visit every service.
    var servicesWithOverlays: Set<ServiceKey> = []
    /// Health checks of persistent instances set per cluster; clusters not listed use TCP.
    var healthChecks: [ServiceKey: [String: HealthCheckSpec]] = [:]
    /// Namespaces created through the namespace API (`public` is implicit).
    var namespaces: [String: NamespaceInfo] = [:]
    /// Cluster mode only: what Distro must send to peers, and what it has deleted.
    var replication: ReplicationLog?
    var clock: MonotonicMillis
    private var nextRevision: UInt64 = 1
    public let validation: Validation

    public init(validation: Validation = Validation(), wallClock: @escaping @Sendable () -> Int64) {
        self.validation = validation
        self.clock = MonotonicMillis(wallClock: wallClock)
    }

    // MARK: Clients

    /// Adds a client; adding a known id again is harmless.
    public mutating func addClient(_ id: ClientID, kind: ClientKind) {
        guard clients[id] == nil else { return }
        clients[id] = ClientRecord(kind: kind)
        if kind == .ipPort(ephemeral: true) { heartbeatClients.insert(id) }
    }

    public func hasClient(_ id: ClientID) -> Bool { clients[id] != nil }

    /// Removes a client with everything it published and subscribed. Returns the services whose
    /// instances changed.
    @discardableResult
    public mutating func removeClient(_ id: ClientID) -> [ServiceKey] {
        guard let client = clients.removeValue(forKey: id) else { return [] }
        noteRemoved(id, client)
        heartbeatClients.remove(id)
        leasedSubscribers.remove(id)
        for service in client.subscriptions {
            services[service]?.subscribers.removeValue(forKey: id)
            dropIfUnused(service)
        }
        var changed: [ServiceKey] = []
        for service in client.publications.keys {
            services[service]?.publishers.remove(id)
            touch(service)
            changed.append(service)
            dropIfUnused(service)
        }
        return changed
    }

    // MARK: Publishing

    /// Replaces what `client` publishes for `service` with `instances` (one instance, or a batch;
    /// an empty batch withdraws them all). Creates the service on first use.
    @discardableResult
    /// `beatAt` (monotonic ms) counts as the first heartbeat of a heartbeat client's instance.
    public mutating func publish(
        client id: ClientID, service: ServiceKey, instances: [Instance], ephemeral: Bool = true, beatAt: Int64? = nil
    ) throws(RegistryError) -> [ServiceKey] {
        guard clients[id] != nil else { throw .clientDisconnected(id) }
        try checkPublish(into: service, instances: instances, ephemeral: ephemeral)
        if let existing = services[service], existing.ephemeral != ephemeral {
            services[service]!.ephemeral = ephemeral
        }
        if instances.isEmpty {
            return withdraw(client: id, service: service)
        }
        if let beatAt { clients[id]!.lastBeat[service] = beatAt }
        if clients[id]!.publications[service] == instances { return [] }
        clients[id]!.publications[service] = instances
        noteChanged(id)
        if let beatAt, let first = instances.first {
            deadlines.insert(
                HeartbeatDeadline(at: beatAt + timing(of: first, in: service).timeout + 1, client: id, service: service)
            )
        }
        ensureService(service, ephemeral: ephemeral)
        services[service]!.publishers.insert(id)
        touch(service)
        return [service]
    }

    /// Whether `instances` may be published into `service` as the given kind, without changing
    /// anything: the checks `publish` makes before it writes.
    public func checkPublish(into service: ServiceKey, instances: [Instance], ephemeral: Bool) throws(RegistryError) {
        try validation.check(service: service)
        try validation.check(batch: instances)
        // A service that only has subscribers has no kind yet that anyone relies on; one
        // created through the service API has the kind it was created with.
        if let existing = services[service], existing.ephemeral != ephemeral,
            !existing.publishers.isEmpty || existing.metadata != nil
        {
            throw kindMismatch(service, existingEphemeral: existing.ephemeral)
        }
    }

    /// Withdraws everything `client` publishes for `service`. Unknown services are not an error.
    @discardableResult
    public mutating func withdraw(client id: ClientID, service: ServiceKey) -> [ServiceKey] {
        guard clients[id]?.publications.removeValue(forKey: service) != nil else { return [] }
        noteChanged(id)
        clients[id]?.lastBeat.removeValue(forKey: service)
        services[service]?.publishers.remove(id)
        touch(service)
        dropIfUnused(service)
        return [service]
    }

    private func kindMismatch(_ service: ServiceKey, existingEphemeral: Bool) -> RegistryError {
        existingEphemeral
            ? .invalidParameter(
                "Current service \(service.groupedName) is ephemeral service, can't register persistent instance.")
            : .invalidParameter(
                "Current service \(service.groupedName) is persistent service, can't register ephemeral instance.")
    }

    // MARK: Subscribing

    /// Subscribes `client` to `service` (which need not exist yet). Returns true the first time
    /// this client subscribes to it.
    @discardableResult
    public mutating func subscribe(client id: ClientID, service: ServiceKey, clusters: String = "")
        throws(RegistryError) -> Bool
    {
        guard clients[id] != nil else { throw .clientDisconnected(id) }
        try validation.check(service: service)
        try validation.checkClusters(clusters)
        ensureService(service, ephemeral: true)
        let firstTime = services[service]!.subscribers.updateValue(clusters, forKey: id) == nil
        clients[id]!.subscriptions.insert(service)
        if heartbeatClients.contains(id) { leasedSubscribers.insert(id) }
        return firstTime
    }

    public mutating func unsubscribe(client id: ClientID, service: ServiceKey) {
        guard clients[id]?.subscriptions.remove(service) != nil else { return }
        services[service]?.subscribers.removeValue(forKey: id)
        dropIfUnused(service)
    }

    /// The subscribers of `service`, with each one's cluster filter.
    public func subscribers(of service: ServiceKey) -> [(client: ClientID, clusters: String)] {
        services[service]?.subscribers.map { ($0.key, $0.value) } ?? []
    }

    // MARK: Reading

    /// The current revision of `service` (0 if it does not exist).
    public func revision(of service: ServiceKey) -> UInt64 { services[service]?.revision ?? 0 }

    public func exists(_ service: ServiceKey) -> Bool { services[service] != nil }

    /// The service's instances: enabled only, filtered by cluster and health, with the
    /// protection threshold applied. An unknown service gives an empty snapshot.
    public func snapshot(of service: ServiceKey, filter: SnapshotFilter = .all) -> ServiceSnapshot {
        guard let record = services[service] else {
            // Nothing to be fresher than: the current time, as Nacos answers for an unknown service.
            return ServiceSnapshot(
                service: service, revision: 0, lastRefTime: clock.now(), clusters: filter.clusters, hosts: [],
                reachProtectionThreshold: false)
        }
        let wanted = Set(filter.clusters.split(separator: ",").map(String.init))
        var hosts: [ServiceSnapshot.Host] = []
        for publisher in record.publishers {
            for published in clients[publisher]?.publications[service] ?? [] {
                let instance = record.effective(published)
                guard instance.enabled || filter.includeDisabled else { continue }
                if !wanted.isEmpty && !wanted.contains(instance.clusterName) { continue }
                hosts.append(
                    .init(instance: instance, instanceId: instance.instanceId(in: service), ephemeral: record.ephemeral)
                )
            }
        }
        hosts.sort {
            ($0.instance.ip, $0.instance.port, $0.instanceId) < ($1.instance.ip, $1.instance.port, $1.instanceId)
        }
        var reachedThreshold = false
        let threshold = record.metadata?.protectThreshold ?? 0
        if threshold > 0, !hosts.isEmpty {
            let healthy = hosts.reduce(0) { $0 + ($1.instance.healthy ? 1 : 0) }
            if Double(healthy) / Double(hosts.count) <= threshold {
                reachedThreshold = true
                for index in hosts.indices { hosts[index].instance.healthy = true }
            }
        }
        if filter.healthyOnly && !reachedThreshold {
            hosts.removeAll { !$0.instance.healthy }
        }
        return ServiceSnapshot(
            service: service, revision: record.revision, lastRefTime: record.lastRefTime,
            clusters: filter.clusters, hosts: hosts, reachProtectionThreshold: reachedThreshold
        )
    }

    /// The names of the services in `namespace` and `group` that have instances or were created
    /// through the service API, sorted, and
    /// paged (`pageNo` from 1). `count` is the total before paging.
    public func listServices(namespace: String, group: String, pageNo: Int, pageSize: Int) -> (
        count: Int, names: [String]
    ) {
        let group = group.isEmpty ? ServiceKey.defaultGroup : group
        let names = visibleServices(namespace: namespace).filter { $0.group == group }.map(\.name).sorted()
        let size = max(1, pageSize)
        let start = max(0, pageNo - 1) * size
        guard start < names.count else { return (names.count, []) }
        return (names.count, Array(names[start..<min(names.count, start + size)]))
    }

    /// The services of `namespace` that lists show: those with publishers or stored metadata.
    public func visibleServices(namespace: String) -> [ServiceKey] {
        let namespace = ServiceKey.normalizedNamespace(namespace)
        return services.compactMap { key, record in
            key.namespace == namespace && (!record.publishers.isEmpty || record.metadata != nil) ? key : nil
        }
    }

    // MARK: Internals

    mutating func ensureService(_ service: ServiceKey, ephemeral: Bool) {
        guard services[service] == nil else { return }
        services[service] = ServiceRecord(ephemeral: ephemeral, revision: takeRevision(), lastRefTime: clock.next())
    }

    mutating func touch(_ service: ServiceKey) {
        guard services[service] != nil else { return }
        services[service]!.revision = takeRevision()
        services[service]!.lastRefTime = clock.next()
    }

    private mutating func takeRevision() -> UInt64 {
        defer { nextRevision += 1 }
        return nextRevision
    }

    /// A service with neither instances, subscribers, stored metadata nor operator edits is
    /// forgotten: nothing can observe it.
    mutating func dropIfUnused(_ service: ServiceKey) {
        if let record = services[service], record.publishers.isEmpty, record.subscribers.isEmpty,
            record.metadata == nil,
            record.overlays.isEmpty
        {
            services.removeValue(forKey: service)
        }
    }
}
