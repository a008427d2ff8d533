/// When a heartbeat publication is next checked.
struct HeartbeatDeadline: Comparable, Sendable {
    var at: Int64
    var client: ClientID
    var service: ServiceKey

    static func < (lhs: HeartbeatDeadline, rhs: HeartbeatDeadline) -> Bool { lhs.at < rhs.at }
    static func == (lhs: HeartbeatDeadline, rhs: HeartbeatDeadline) -> Bool { lhs.at == rhs.at }
}

/// The v1 heartbeat model: `ip:port#true` clients whose instances live by their beats, whose
/// list-call subscriptions live by a lease, and the expiry of orphaned operator edits.
extension Registry {
    /// How long leases last (ms).
    public struct LeasePolicy: Sendable {
        /// A heartbeat client's subscriptions (v1 UDP push) lapse this long after its last list call.
        public var subscriberLease: Int64 = 180_000
        /// An operator edit outlives its instance by this much, so a re-registration keeps it.
        public var orphanedEditRetention: Int64 = 60_000

        public init() {}
    }

    public enum HeartbeatOutcome: Sendable, Equatable {
        /// The client does not publish into that service (expired, or never registered).
        case unknownInstance
        /// Refreshed. `changed` holds the service if the beat made an unhealthy instance healthy.
        case refreshed(changed: [ServiceKey], beatInterval: Int64)
    }

    /// Records a beat (`now` in monotonic ms) for what `client` publishes into `service`.
    public mutating func heartbeat(client id: ClientID, service: ServiceKey, now: Int64) -> HeartbeatOutcome {
        adoptIfReplica(id, now: now)
        guard let instances = clients[id]?.publications[service], let first = instances.first else {
            return .unknownInstance
        }
        clients[id]!.lastBeat[service] = now
        clients[id]!.lastActive = now
        let changed = setHealth(of: id, in: service, healthy: true) ? [service] : []
        return .refreshed(changed: changed, beatInterval: timing(of: first, in: service).interval)
    }

    /// Sets the health of what `id` publishes into `service`; true if that changed anything.
    mutating func setHealth(of id: ClientID, in service: ServiceKey, healthy: Bool) -> Bool {
        guard let instances = clients[id]?.publications[service], instances.contains(where: { $0.healthy != healthy })
        else { return false }
        clients[id]!.publications[service] = instances.map { instance in
            var instance = instance
            instance.healthy = healthy
            return instance
        }
        noteChanged(id)
        touch(service)
        return true
    }

    /// v1 registration: publishes `instance` as the heartbeat client `ip:port#true` (created on
    /// first use), counting `now` as its first beat. A refused registration leaves no client behind.
    @discardableResult
    public mutating func publishBeating(_ instance: Instance, into service: ServiceKey, now: Int64)
        throws(RegistryError) -> [ServiceKey]
    {
        let id = IPPortClientID.make(ip: instance.ip, port: instance.port, ephemeral: true)
        adoptIfReplica(id, now: now)
        addClient(id, kind: .ipPort(ephemeral: true))
        do throws(RegistryError) {
            return try publish(client: id, service: service, instances: [instance], beatAt: now)
        } catch {
            removeClientIfIdle(id)
            throw error
        }
    }

    /// v1 UDP-push subscription of the heartbeat client `id` (created on first use), renewing its
    /// lease at `now`. Returns true the first time. A refused subscription leaves no client behind.
    public mutating func subscribeLeased(_ id: ClientID, to service: ServiceKey, clusters: String, now: Int64)
        throws(RegistryError) -> Bool
    {
        addClient(id, kind: .ipPort(ephemeral: true))
        markActive(client: id, now: now)
        do throws(RegistryError) {
            return try subscribe(client: id, service: service, clusters: clusters)
        } catch {
            removeClientIfIdle(id)
            throw error
        }
    }

    /// v1 deregistration, or removal of a persistent instance: withdraws what the `ip:port`
    /// client publishes into `service`, and drops the client once it holds nothing.
    @discardableResult
    public mutating func withdrawIPPortClient(_ id: ClientID, from service: ServiceKey) -> [ServiceKey] {
        defer { removeClientIfIdle(id) }
        return withdraw(client: id, service: service)
    }

    /// Notes that a heartbeat client read or wrote at `now`: it renews its subscriptions' lease.
    public mutating func markActive(client id: ClientID, now: Int64) {
        clients[id]?.lastActive = now
    }

    /// The heartbeat timing of `instance`, with any operator edit of its metadata applied.
    public func timing(of instance: Instance, in service: ServiceKey) -> HeartbeatTiming {
        HeartbeatTiming(metadata: services[service]?.effective(instance).metadata ?? instance.metadata)
    }

    /// What a sweep did, for pushes and for the log.
    public struct SweepReport: Sendable, Equatable {
        public var changed: [ServiceKey] = []
        /// Instances that turned unhealthy: (client, service).
        public var turnedUnhealthy: [(client: ClientID, service: ServiceKey)] = []
        /// Instances removed for silence: (client, service).
        public var expired: [(client: ClientID, service: ServiceKey)] = []

        public static func == (lhs: SweepReport, rhs: SweepReport) -> Bool {
            lhs.changed == rhs.changed && lhs.turnedUnhealthy.elementsEqual(rhs.turnedUnhealthy, by: ==)
                && lhs.expired.elementsEqual(rhs.expired, by: ==)
        }
    }

    /// Applies every deadline due at `now` (monotonic ms) and reports the services that changed:
    /// an instance silent past its heartbeat timeout turns unhealthy, and past its delete timeout
    /// is removed; lapsed subscriptions end, clients left with nothing are dropped, and orphaned
    /// operator edits are forgotten.
    public mutating func sweep(now: Int64, policy: LeasePolicy = LeasePolicy()) -> SweepReport {
        var report = SweepReport()
        var changed = Set<ServiceKey>()
        while let next = deadlines.min, next.at <= now {
            _ = deadlines.removeMin()
            check(next.client, next.service, now: now, changed: &changed, report: &report)
        }
        for id in leasedSubscribers {
            guard let client = clients[id], now - client.lastActive > policy.subscriberLease else { continue }
            for service in client.subscriptions { unsubscribe(client: id, service: service) }
            leasedSubscribers.remove(id)
            removeClientIfIdle(id)
        }
        for service in servicesWithOverlays {
            expireOrphanedEdits(of: service, now: now, retention: policy.orphanedEditRetention)
        }
        report.changed = Array(changed)
        return report
    }

    /// Applies the deadline of one heartbeat publication, and files its next check.
    private mutating func check(
        _ id: ClientID, _ service: ServiceKey, now: Int64, changed: inout Set<ServiceKey>, report: inout SweepReport
    ) {
        guard let lastBeat = clients[id]?.lastBeat[service], let instances = clients[id]?.publications[service],
            let first = instances.first
        else { return }
        let timing = timing(of: first, in: service)
        let silence = now - lastBeat
        if silence > timing.deleteTimeout {
            changed.formUnion(withdraw(client: id, service: service))
            report.expired.append((id, service))
            removeClientIfIdle(id)
            return
        }
        if silence > timing.timeout, setHealth(of: id, in: service, healthy: false) {
            changed.insert(service)
            report.turnedUnhealthy.append((id, service))
        }
        let healthy = silence <= timing.timeout
        let due = lastBeat + (healthy ? timing.timeout : timing.deleteTimeout) + 1
        deadlines.insert(HeartbeatDeadline(at: max(due, now + 1), client: id, service: service))
    }

    /// An edit may change an instance's timing: file a check at its new deadline.
    mutating func refileHeartbeatDeadlines(of service: ServiceKey, at address: InstanceAddress) {
        for id in services[service]?.publishers ?? [] where heartbeatClients.contains(id) {
            guard let lastBeat = clients[id]?.lastBeat[service],
                let instance = clients[id]?.publications[service]?.first(where: {
                    InstanceAddress(ip: $0.ip, port: $0.port, cluster: $0.clusterName) == address
                })
            else { continue }
            deadlines.insert(
                HeartbeatDeadline(
                    at: lastBeat + timing(of: instance, in: service).timeout + 1, client: id, service: service))
        }
    }

    /// Drops a heartbeat client that publishes and subscribes nothing (a deregistered or
    /// expired v1 instance, a lapsed subscriber, or a registration that was refused).
    public mutating func removeClientIfIdle(_ id: ClientID) {
        guard clients[id]?.kind != .connection, let client = clients[id], client.publications.isEmpty,
            client.subscriptions.isEmpty
        else { return }
        removeClient(id)
    }

    private mutating func expireOrphanedEdits(of service: ServiceKey, now: Int64, retention: Int64) {
        guard let record = services[service] else {
            servicesWithOverlays.remove(service)
            return
        }
        let present = Set(
            allInstances(of: service).map { InstanceAddress(ip: $0.ip, port: $0.port, cluster: $0.clusterName) })
        for (address, overlay) in record.overlays {
            if present.contains(address) {
                if overlay.orphanedSince != nil { services[service]!.overlays[address]!.orphanedSince = nil }
            } else if let since = overlay.orphanedSince {
                if now - since > retention { services[service]!.overlays.removeValue(forKey: address) }
            } else {
                services[service]!.overlays[address]!.orphanedSince = now
            }
        }
        if services[service]!.overlays.isEmpty {
            servicesWithOverlays.remove(service)
            dropIfUnused(service)
        }
    }
}
