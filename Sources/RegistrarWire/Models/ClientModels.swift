/// Models a client reads: the responses and server requests a Nacos server sends.

/// ServiceInfo as a client reads it.
public struct ServiceInfoBody: Codable, Sendable, Equatable {
    public var name: String?
    public var groupName: String?
    public var clusters: String?
    public var cacheMillis: Int64?
    public var hosts: [InstanceBody]?
    public var lastRefTime: Int64?
    public var reachProtectionThreshold: Bool?
}

/// `QueryServiceResponse`, `SubscribeServiceResponse` and `NotifySubscriberRequest`: the
/// messages that carry a ServiceInfo.
public struct ServiceInfoMessage: Codable, Sendable {
    public var resultCode: Int?
    public var errorCode: Int?
    public var message: String?
    public var requestId: String?
    public var serviceInfo: ServiceInfoBody?
}

/// `ServiceListResponse`.
public struct ServiceListResponseBody: Codable, Sendable {
    public var resultCode: Int?
    public var errorCode: Int?
    public var message: String?
    public var count: Int?
    public var serviceNames: [String]?
}

/// `ServerCheckResponse`.
public struct ServerCheckResponseBody: Codable, Sendable {
    public var resultCode: Int?
    public var errorCode: Int?
    public var message: String?
    public var connectionId: String?
    public var supportAbilityNegotiation: Bool?
}

/// Every request type the server sends on the stream, with its requestId.
public struct ServerRequestFields: Codable, Sendable, IdentifiedRequest {
    public var requestId: String?
}
