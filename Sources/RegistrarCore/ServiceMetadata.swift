/// What the service API stores about a service, beyond its instances.
public struct ServiceMetadata: Sendable, Equatable, Codable {
    /// 0…1. When the healthy share of a service's instances falls to or below it, reads return
    /// every instance as healthy (and say so), so callers do not pile onto the few left.
    /// 0 disables it.
    public var protectThreshold: Double
    public var metadata: [String: String]
    public var selector: ServiceSelector
    /// The kind of instance the service accepts.
    public var ephemeral: Bool

    public init(
        protectThreshold: Double = 0, metadata: [String: String] = [:], selector: ServiceSelector = .none,
        ephemeral: Bool = true
    ) {
        self.protectThreshold = protectThreshold
        self.metadata = metadata
        self.selector = selector
        self.ephemeral = ephemeral
    }
}

/// A service's instance selector, stored and echoed (Nacos 2.x no longer filters by it).
public struct ServiceSelector: Sendable, Equatable, Codable {
    /// `none` or `label`.
    public var type: String
    /// The label expression of a `label` selector.
    public var expression: String?

    public init(type: String, expression: String? = nil) {
        self.type = type
        self.expression = expression
    }

    public static let none = ServiceSelector(type: "none")
}

/// Where an instance lives, as operator edits address it: `ip:port` in one cluster.
public struct InstanceAddress: Sendable, Hashable {
    public var ip: String
    public var port: Int
    public var cluster: String

    public init(ip: String, port: Int, cluster: String) {
        self.ip = ip
        self.port = port
        self.cluster = cluster.isEmpty ? Instance.defaultCluster : cluster
    }
}

/// An operator's edit of an instance (v1 `PUT`/`PATCH /instance`). It is applied over whatever
/// the owning client publishes, so it survives the client re-registering (a reconnect's redo):
/// `weight` and `enabled` replace the published values and `metadata` keys are merged over the
/// published ones.
public struct InstanceOverlay: Sendable, Equatable {
    public var weight: Double?
    public var enabled: Bool?
    public var metadata: [String: String]
    /// When the overlay's instance went away (monotonic ms); it is forgotten after a while.
    var orphanedSince: Int64?

    public init(weight: Double? = nil, enabled: Bool? = nil, metadata: [String: String] = [:]) {
        self.weight = weight
        self.enabled = enabled
        self.metadata = metadata
    }

    func apply(to instance: Instance) -> Instance {
        var instance = instance
        if let weight { instance.weight = weight }
        if let enabled { instance.enabled = enabled }
        if !metadata.isEmpty { instance.metadata.merge(metadata) { _, edited in edited } }
        return instance
    }
}

extension Registry.ServiceRecord {
    /// The instance as readers see it: with the operator's edit applied, if there is one.
    func effective(_ instance: Instance) -> Instance {
        guard !overlays.isEmpty,
            let overlay = overlays[InstanceAddress(ip: instance.ip, port: instance.port, cluster: instance.clusterName)]
        else {
            return instance
        }
        return overlay.apply(to: instance)
    }
}

/// The v1 identity of a heartbeat or persistent client: `ip:port#ephemeral`.
public enum IPPortClientID {
    public static func make(ip: String, port: Int, ephemeral: Bool) -> ClientID {
        "\(ip):\(port)#\(ephemeral)"
    }

    /// The address and kind in an `ip:port#ephemeral` id (IPv6 addresses keep their colons).
    public static func parse(_ id: ClientID) -> (ip: String, port: Int, ephemeral: Bool)? {
        guard let hash = id.lastIndex(of: "#"), let colon = id[..<hash].lastIndex(of: ":"),
            let port = Int(id[id.index(after: colon)..<hash])
        else { return nil }
        let flag = id[id.index(after: hash)...]
        guard flag == "true" || flag == "false" else { return nil }
        return (String(id[..<colon]), port, flag == "true")
    }
}
