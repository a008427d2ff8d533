import RegistrarWire

/// One instance of a service, as the SDK registers and reads it.
public struct ServiceInstance: Sendable, Hashable, Codable {
    public var ip: String
    public var port: Int
    /// Relative share of traffic for weighted selection; 0 takes the instance out of selection.
    public var weight: Double
    public var healthy: Bool
    public var enabled: Bool
    /// Ephemeral instances live as long as the connection that registered them.
    public var ephemeral: Bool
    public var clusterName: String
    public var metadata: [String: String]
    /// The server-assigned id (`ip#port#cluster#group@@service`); empty before registration.
    public var instanceId: String

    public init(
        ip: String, port: Int, weight: Double = 1, healthy: Bool = true, enabled: Bool = true,
        ephemeral: Bool = true, clusterName: String = "DEFAULT", metadata: [String: String] = [:],
        instanceId: String = ""
    ) {
        self.ip = ip
        self.port = port
        self.weight = weight
        self.healthy = healthy
        self.enabled = enabled
        self.ephemeral = ephemeral
        self.clusterName = clusterName
        self.metadata = metadata
        self.instanceId = instanceId
    }

    /// The instance as the Nacos wire sends it (fields a server leaves out get Nacos's defaults).
    init(_ body: InstanceBody) {
        self.init(
            ip: body.ip ?? "", port: body.port ?? 0, weight: body.weight ?? 1, healthy: body.healthy ?? true,
            enabled: body.enabled ?? true, ephemeral: body.ephemeral ?? true,
            clusterName: body.clusterName ?? "DEFAULT",
            metadata: body.metadata ?? [:], instanceId: body.instanceId ?? ""
        )
    }

    var wireBody: InstanceBody {
        InstanceBody(
            instanceId: "", ip: ip, port: port, weight: weight, healthy: healthy, enabled: enabled,
            ephemeral: ephemeral, clusterName: clusterName, serviceName: "", metadata: metadata
        )
    }

    /// What makes two registrations the same instance of a service.
    var address: InstanceAddressKey { InstanceAddressKey(ip: ip, port: port, clusterName: clusterName) }

    /// Whether selection may route traffic to it.
    public var isSelectable: Bool { healthy && enabled && weight > 0 }
}

/// (ip, port, cluster): the identity of an instance within a service.
struct InstanceAddressKey: Hashable, Sendable {
    var ip: String
    var port: Int
    var clusterName: String
}

/// A service's instances at one moment, as queries return and subscriptions deliver it.
public struct ServiceInfo: Sendable, Equatable, Codable {
    public var name: String
    public var groupName: String
    public var instances: [ServiceInstance]
    /// The server's version stamp (milliseconds); later data has a larger value.
    public var lastRefTime: Int64
    /// True when the server's protection threshold kicked in and unhealthy instances are included.
    public var reachProtectionThreshold: Bool

    public init(
        name: String, groupName: String, instances: [ServiceInstance], lastRefTime: Int64,
        reachProtectionThreshold: Bool = false
    ) {
        self.name = name
        self.groupName = groupName
        self.instances = instances
        self.lastRefTime = lastRefTime
        self.reachProtectionThreshold = reachProtectionThreshold
    }

    init(_ body: ServiceInfoBody, service: ServiceName) {
        // Servers may send the grouped name (`group@@name`); the key we asked for is authoritative.
        self.init(
            name: service.name, groupName: service.group, instances: (body.hosts ?? []).map(ServiceInstance.init),
            lastRefTime: body.lastRefTime ?? 0, reachProtectionThreshold: body.reachProtectionThreshold ?? false
        )
    }

    /// The same service with only the instances of `clusters` (all when empty).
    func filtered(clusters: Set<String>) -> ServiceInfo {
        guard !clusters.isEmpty else { return self }
        var copy = self
        copy.instances = instances.filter { clusters.contains($0.clusterName) }
        return copy
    }

    /// The instance set, order-independent: what decides whether subscribers hear of a change.
    var instanceSet: Set<ServiceInstance> { Set(instances) }
}

/// A page of service names.
public struct ServiceList: Sendable, Equatable {
    /// Services in the namespace and group (all pages).
    public var count: Int
    public var names: [String]
}
