/// The read model of one service: what a query returns and a push carries.
///
/// Built from the indexes when asked for, and identified by `revision`, so the fronts can
/// encode it once per revision and reuse the bytes for every subscriber and query.
public struct ServiceSnapshot: Sendable, Equatable {
    public var service: ServiceKey
    /// Unique across the whole registry and strictly increasing: a new value at every change.
    public var revision: UInt64
    /// Milliseconds; strictly increasing across revisions (clients drop data that is not newer).
    public var lastRefTime: Int64
    /// The cluster filter applied (`""` for all).
    public var clusters: String
    public var hosts: [Host]
    public var reachProtectionThreshold: Bool

    public init(
        service: ServiceKey, revision: UInt64, lastRefTime: Int64, clusters: String, hosts: [Host],
        reachProtectionThreshold: Bool
    ) {
        self.service = service
        self.revision = revision
        self.lastRefTime = lastRefTime
        self.clusters = clusters
        self.hosts = hosts
        self.reachProtectionThreshold = reachProtectionThreshold
    }

    /// One instance as read back, with the fields a reader needs resolved.
    public struct Host: Sendable, Equatable {
        public var instance: Instance
        public var instanceId: String
        public var ephemeral: Bool

        public init(instance: Instance, instanceId: String, ephemeral: Bool) {
            self.instance = instance
            self.instanceId = instanceId
            self.ephemeral = ephemeral
        }
    }
}

/// Which instances a read wants.
public struct SnapshotFilter: Sendable, Hashable {
    /// Comma-separated cluster names; `""` means every cluster.
    public var clusters: String
    public var healthyOnly: Bool
    /// Disabled instances too (operator views); clients never see them.
    public var includeDisabled: Bool

    public init(clusters: String = "", healthyOnly: Bool = false, includeDisabled: Bool = false) {
        self.clusters = clusters
        self.healthyOnly = healthyOnly
        self.includeDisabled = includeDisabled
    }

    public static let all = SnapshotFilter()
}

/// Hands out strictly increasing millisecond timestamps, even if the wall clock stalls or steps back.
public struct MonotonicMillis: Sendable {
    private let wallClock: @Sendable () -> Int64
    private var last: Int64 = 0

    public init(wallClock: @escaping @Sendable () -> Int64) {
        self.wallClock = wallClock
    }

    /// The current time, never behind what was handed out, without advancing.
    public func now() -> Int64 {
        max(wallClock(), last)
    }

    public mutating func next() -> Int64 {
        last = max(wallClock(), last + 1)
        return last
    }
}
