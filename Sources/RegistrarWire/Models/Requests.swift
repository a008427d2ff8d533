/// The JSON request bodies Registrar reads, named by their `metadata.type`.
///
/// Every field is optional: clients differ in what they send (Java leaves fields out, the Rust
/// client sends `null`), and unknown keys are ignored. Defaults are applied by the handlers.

/// A request that may carry a `requestId` (echoed in its response).
public protocol IdentifiedRequest: Decodable, Sendable {
    var requestId: String? { get }
}

/// Fields every naming request carries.
public protocol NamingRequestFields: IdentifiedRequest {
    var namespace: String? { get }
    var serviceName: String? { get }
    var groupName: String? { get }
}

/// An instance as clients send it.
public struct InstanceBody: Codable, Sendable, Equatable {
    public var instanceId: String?
    public var ip: String?
    public var port: Int?
    public var weight: Double?
    public var healthy: Bool?
    public var enabled: Bool?
    public var ephemeral: Bool?
    public var clusterName: String?
    public var serviceName: String?
    public var metadata: [String: String]?

    public init(
        instanceId: String? = nil, ip: String? = nil, port: Int? = nil, weight: Double? = nil,
        healthy: Bool? = nil, enabled: Bool? = nil, ephemeral: Bool? = nil, clusterName: String? = nil,
        serviceName: String? = nil, metadata: [String: String]? = nil
    ) {
        self.instanceId = instanceId
        self.ip = ip
        self.port = port
        self.weight = weight
        self.healthy = healthy
        self.enabled = enabled
        self.ephemeral = ephemeral
        self.clusterName = clusterName
        self.serviceName = serviceName
        self.metadata = metadata
    }
}

extension InstanceBody {
    enum CodingKeys: String, CodingKey {
        case instanceId, ip, port, weight, healthy, enabled, ephemeral, clusterName, serviceName, metadata
    }

    /// Any metadata key.
    private struct MetadataKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instanceId = try container.decodeIfPresent(String.self, forKey: .instanceId)
        ip = try container.decodeIfPresent(String.self, forKey: .ip)
        port = try container.decodeIfPresent(Int.self, forKey: .port)
        weight = try container.decodeIfPresent(Double.self, forKey: .weight)
        healthy = try container.decodeIfPresent(Bool.self, forKey: .healthy)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
        ephemeral = try container.decodeIfPresent(Bool.self, forKey: .ephemeral)
        clusterName = try container.decodeIfPresent(String.self, forKey: .clusterName)
        serviceName = try container.decodeIfPresent(String.self, forKey: .serviceName)
        metadata = try Self.metadata(in: container)
    }

    /// The metadata object, read key by key. `[String: String]`'s own `Decodable` goes through
    /// generic boxes and type lookups for every entry. The server reads instances with
    /// `JSONReader`; this path serves `JSONDecoder`, which the SDK uses for the hosts of every
    /// pushed and queried service.
    private static func metadata(in container: KeyedDecodingContainer<CodingKeys>) throws -> [String: String]? {
        guard container.contains(.metadata), try !container.decodeNil(forKey: .metadata) else { return nil }
        let object = try container.nestedContainer(keyedBy: MetadataKey.self, forKey: .metadata)
        let keys = object.allKeys
        var metadata: [String: String] = [:]
        metadata.reserveCapacity(keys.count)
        for key in keys {
            metadata[key.stringValue] = try object.decode(String.self, forKey: key)
        }
        return metadata
    }
}

/// `InstanceRequest` and `PersistentInstanceRequest`: register or deregister one instance.
public struct InstanceRequest: Codable, Sendable, NamingRequestFields {
    public var requestId: String?
    public var namespace: String?
    public var serviceName: String?
    public var groupName: String?
    /// `registerInstance` or `deregisterInstance`.
    public var type: String?
    public var instance: InstanceBody?

    public init(namespace: String?, serviceName: String?, groupName: String?, type: String?, instance: InstanceBody?) {
        self.namespace = namespace
        self.serviceName = serviceName
        self.groupName = groupName
        self.type = type
        self.instance = instance
    }
}

/// `BatchInstanceRequest`: replaces the connection's instances of a service with a list.
public struct BatchInstanceRequest: Codable, Sendable, NamingRequestFields {
    public var requestId: String?
    public var namespace: String?
    public var serviceName: String?
    public var groupName: String?
    /// Only `batchRegisterInstance` is accepted.
    public var type: String?
    public var instances: [InstanceBody]?

    public init(namespace: String?, serviceName: String?, groupName: String?, type: String?, instances: [InstanceBody]?)
    {
        self.namespace = namespace
        self.serviceName = serviceName
        self.groupName = groupName
        self.type = type
        self.instances = instances
    }
}

/// `ServiceQueryRequest`: read a service's instances once.
public struct ServiceQueryRequest: Codable, Sendable, NamingRequestFields {
    public var requestId: String?
    public var namespace: String?
    public var serviceName: String?
    public var groupName: String?
    public var cluster: String?
    public var healthyOnly: Bool?
    public var udpPort: Int?

    public init(
        namespace: String?, serviceName: String?, groupName: String?, cluster: String? = nil, healthyOnly: Bool? = nil
    ) {
        self.namespace = namespace
        self.serviceName = serviceName
        self.groupName = groupName
        self.cluster = cluster
        self.healthyOnly = healthyOnly
    }
}

/// `SubscribeServiceRequest`: subscribe (or unsubscribe) to pushes of a service.
public struct SubscribeServiceRequest: Codable, Sendable, NamingRequestFields {
    public var requestId: String?
    public var namespace: String?
    public var serviceName: String?
    public var groupName: String?
    public var subscribe: Bool?
    public var clusters: String?

    public init(namespace: String?, serviceName: String?, groupName: String?, subscribe: Bool, clusters: String = "") {
        self.namespace = namespace
        self.serviceName = serviceName
        self.groupName = groupName
        self.subscribe = subscribe
        self.clusters = clusters
    }
}

/// `ServiceListRequest`: page through the service names of a namespace and group.
public struct ServiceListRequest: Codable, Sendable, NamingRequestFields {
    public var requestId: String?
    public var namespace: String?
    public var serviceName: String?
    public var groupName: String?
    public var pageNo: Int?
    public var pageSize: Int?
    public var selector: String?

    public init(namespace: String?, groupName: String?, pageNo: Int, pageSize: Int) {
        self.namespace = namespace
        self.groupName = groupName
        self.pageNo = pageNo
        self.pageSize = pageSize
    }
}

/// `ConnectionSetupRequest`: the first message on a connection's bi-stream.
public struct ConnectionSetupRequest: Codable, Sendable, IdentifiedRequest {
    public var requestId: String?
    public var clientVersion: String?
    public var tenant: String?
    public var labels: [String: String]?
    /// Present (even empty) only for clients that negotiate abilities and wait for SetupAck.
    public var abilityTable: [String: Bool]?

    public init(clientVersion: String?, tenant: String? = nil, labels: [String: String]?, abilityTable: [String: Bool]?)
    {
        self.clientVersion = clientVersion
        self.tenant = tenant
        self.labels = labels
        self.abilityTable = abilityTable
    }
}

/// Any response: the common fields, which are all an ack needs.
public struct ResponseFields: Codable, Sendable {
    public var resultCode: Int?
    public var errorCode: Int?
    public var message: String?
    public var requestId: String?

    public init(resultCode: Int? = 200, errorCode: Int? = 0, message: String? = nil, requestId: String?) {
        self.resultCode = resultCode
        self.errorCode = errorCode
        self.message = message
        self.requestId = requestId
    }

    /// Nacos clients disagree on what success is; a response succeeds when both agree.
    public var isSuccess: Bool { (resultCode ?? 200) == 200 && (errorCode ?? 0) == 0 }
}
