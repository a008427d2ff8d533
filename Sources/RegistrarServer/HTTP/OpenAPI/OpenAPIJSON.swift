import RegistrarCore
import RegistrarWire

/// The `data` bodies of the v2 and v3 HTTP APIs, in the shapes of Nacos's view objects.
enum OpenAPIJSON {
    /// Nacos's `Instance`: the fields every 2.x/3.x client reads, plus the grouped service name.
    static func instance(_ instance: Instance, service: ServiceKey, ephemeral: Bool?, into json: inout JSONWriter) {
        json.beginObject()
        json.key("instanceId"); json.string(instance.instanceId(in: service))
        json.instanceFields(instance)
        if let ephemeral {
            json.key("ephemeral"); json.bool(ephemeral)
        }
        json.key("serviceName"); json.string(service.groupedName)
        json.endObject()
    }

    /// `GET /nacos/v2/ns/instance`: Nacos's `InstanceDetailInfoVo`.
    static func instanceDetail(_ instance: Instance, service: ServiceKey) -> [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("serviceName"); json.string(service.groupedName)
        json.key("instanceId"); json.string(instance.instanceId(in: service))
        json.instanceFields(instance)
        json.endObject()
        return json.bytes
    }

    /// A service with its stored settings and clusters (Nacos's `ServiceDetailInfo`):
    /// `clusterMap` by cluster name. 2.x names the namespace `namespace`, 3.x `namespaceId`.
    static func serviceDetail(_ detail: Registry.ServiceDetail, v3: Bool) -> [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        if v3 { json.key("namespaceId") } else { json.key("namespace") }
        json.string(detail.service.namespace)
        json.key("groupName"); json.string(detail.service.group)
        json.key("serviceName"); json.string(detail.service.name)
        json.key("protectThreshold"); json.double(detail.metadata.protectThreshold)
        json.key("metadata"); json.stringMap(detail.metadata.metadata)
        json.key("selector"); json.beginObject()
        json.key("type"); json.string(detail.metadata.selector.type)
        if let expression = detail.metadata.selector.expression {
            json.key("expression"); json.string(expression)
        }
        json.endObject()
        json.key("ephemeral"); json.bool(detail.metadata.ephemeral)
        json.key("clusterMap"); json.beginObject()
        for cluster in detail.clusters {
            json.dynamicKey(cluster.name); json.beginObject()
            json.key("clusterName"); json.string(cluster.name)
            json.key("healthChecker"); healthChecker(cluster.healthCheck, into: &json)
            if v3 {
                // Probes always go to the instance's own port (see `ClusterRoutes`).
                json.key("useInstancePortForCheck"); json.bool(true)
            }
            json.key("metadata"); json.stringMap([:])
            json.endObject()
        }
        json.endObject()
        json.endObject()
        return json.bytes
    }

    static func healthChecker(_ check: HealthCheckSpec, into json: inout JSONWriter) {
        json.beginObject()
        json.key("type"); json.string(check.kind.rawValue)
        if check.kind == .http {
            json.key("path"); json.string(check.path)
            json.key("headers"); json.string("")
            json.key("expectedResponseCode"); json.int(check.expectedStatus ?? 200)
        }
        json.endObject()
    }

    /// A client as the inspection endpoints show it (`ClientSummaryInfo`); 2.x writes the port
    /// as a string.
    static func client(
        _ view: Registry.ClientView, connection: ConnectionSummary?, v3: Bool, into json: inout JSONWriter
    ) {
        json.beginObject()
        json.key("clientId"); json.string(view.id)
        json.key("ephemeral"); json.bool(view.kind != .ipPort(ephemeral: false))
        json.key("clientType")
        switch view.kind {
        case .connection: json.string("connection")
        case .ipPort: json.string("ipPort")
        case .replica: json.string("replica")
        }
        if let owner = view.owner {
            json.key("responsibleServer"); json.string(owner)
        }
        let address = connection.map { ($0.ip, $0.port) } ?? ClientAddress.of(view.id)
        json.key("clientIp"); json.string(address.0)
        json.key("clientPort")
        if v3 { json.int(address.1) } else { json.string(String(address.1)) }
        if let connection {
            json.key("connectType"); json.string("GRPC")
            json.key("version"); json.string(connection.version)
            json.key("lastUpdatedTime"); json.int(connection.lastActiveWallMillis)
        }
        json.key("publishedServiceCount"); json.int(view.publications.count)
        json.key("subscribedServiceCount"); json.int(view.subscriptions.count)
        json.endObject()
    }

    /// The service fields of the client publish/subscribe lists: 2.x `{namespace, group,
    /// serviceName}`, 3.x `{namespaceId, groupName, serviceName}`.
    static func serviceFields(_ service: ServiceKey, v3: Bool, into json: inout JSONWriter) {
        if v3 { json.key("namespaceId") } else { json.key("namespace") }
        json.string(service.namespace)
        if v3 { json.key("groupName") } else { json.key("group") }
        json.string(service.group)
        json.key("serviceName"); json.string(service.name)
    }
}

/// A client's address as its id says it: `<millis>_<ip>_<port>` for a connection,
/// `ip:port#ephemeral` for a heartbeat or persistent client.
enum ClientAddress {
    static func of(_ client: ClientID) -> (ip: String, port: Int) {
        if let hash = client.lastIndex(of: "#") {
            let address = client[..<hash]
            guard let colon = address.lastIndex(of: ":") else { return (String(address), 0) }
            return (String(address[..<colon]), Int(address[address.index(after: colon)...]) ?? 0)
        }
        let parts = client.split(separator: "_")
        guard parts.count >= 3 else { return ("", 0) }
        return (parts[1...].dropLast().joined(separator: "_"), Int(parts.last!) ?? 0)
    }
}

/// What the gRPC front knows of a connection, for the inspection endpoints.
struct ConnectionSummary: Sendable {
    var ip: String
    var port: Int
    var version: String
    var lastActiveWallMillis: Int64
}
