/// One published endpoint of a service, as a client registered it.
public struct Instance: Sendable, Hashable, Codable {
    public static let defaultCluster = "DEFAULT"

    public var ip: String
    public var port: Int
    public var weight: Double
    public var healthy: Bool
    public var enabled: Bool
    /// Never empty once normalised: a blank cluster is stored as `DEFAULT`.
    public var clusterName: String
    public var metadata: [String: String]
    /// An id the client chose; `nil` means the server generates one.
    public var customInstanceId: String?

    public init(
        ip: String,
        port: Int,
        weight: Double = 1.0,
        healthy: Bool = true,
        enabled: Bool = true,
        clusterName: String? = nil,
        metadata: [String: String] = [:],
        customInstanceId: String? = nil
    ) {
        self.ip = ip
        self.port = port
        self.weight = weight
        self.healthy = healthy
        self.enabled = enabled
        self.clusterName = (clusterName?.isEmpty ?? true) ? Instance.defaultCluster : clusterName!
        self.metadata = metadata
        self.customInstanceId = (customInstanceId?.isEmpty ?? true) ? nil : customInstanceId
    }

    /// The id Nacos's "simple" generator gives: `ip#port#cluster#group@@name`, unless the client
    /// chose its own.
    public func instanceId(in service: ServiceKey) -> String {
        customInstanceId ?? "\(ip)#\(port)#\(clusterName)#\(service.groupedName)"
    }
}

/// How a client owns its data, and so how it is kept alive.
public enum ClientKind: Sendable, Hashable {
    /// A long-lived gRPC connection: it lives exactly as long as the connection.
    case connection
    /// A legacy `ip:port` identity (v1 HTTP heartbeats, or persistent instances).
    case ipPort(ephemeral: Bool)
    /// A copy of a client another cluster member owns (Distro). It lives by the owner's
    /// datums and its lease, never by anything this node sees.
    case replica
}

/// A client's identifier: the connection id, or `ip:port#ephemeral`.
public typealias ClientID = String
