import RegistrarCore
import RegistrarWire

/// The JSON bodies of the v1 HTTP Open API (and of v1 UDP push), in the shapes 1.x clients and
/// Nacos 2.x servers use. ServiceInfo itself is `ServiceInfoJSON` with the `.v1` style.
public enum V1JSON {
    /// `PUT /instance/beat`: `code` is 10200 (ok) or 20404 (unknown instance: re-register).
    public static func beat(interval: Int64, code: Int, lightBeatEnabled: Bool = true) -> [UInt8] {
        var json = JSONWriter(capacity: 80)
        json.beginObject()
        json.key("clientBeatInterval"); json.int(interval)
        json.key("code"); json.int(code)
        json.key("lightBeatEnabled"); json.bool(lightBeatEnabled)
        json.endObject()
        return json.bytes
    }

    /// `GET /instance`: one instance. `service` is the grouped name and `clusterName` echoes the request.
    public static func instanceDetail(_ instance: Instance, service: ServiceKey) -> [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("service"); json.string(service.groupedName)
        json.instanceFields(instance)
        json.key("instanceId"); json.string(instance.instanceId(in: service))
        json.endObject()
        return json.bytes
    }

    /// `GET /service`: the ungrouped name, stored metadata, and the clusters with instances.
    public static func serviceDetail(_ detail: Registry.ServiceDetail) -> [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("namespaceId"); json.string(detail.service.namespace)
        json.key("groupName"); json.string(detail.service.group)
        json.key("name"); json.string(detail.service.name)
        json.key("protectThreshold"); json.double(detail.metadata.protectThreshold)
        json.key("metadata"); json.stringMap(detail.metadata.metadata)
        json.key("selector"); selector(detail.metadata.selector, into: &json)
        json.key("ephemeral"); json.bool(detail.metadata.ephemeral)
        json.key("clusters"); json.beginArray()
        for cluster in detail.clusters {
            json.beginObject()
            json.key("name"); json.string(cluster.name)
            json.key("healthChecker"); json.beginObject()
            json.key("type"); json.string(cluster.healthCheck.kind.rawValue)
            if cluster.healthCheck.kind == .http {
                json.key("path"); json.string(cluster.healthCheck.path)
                if let status = cluster.healthCheck.expectedStatus {
                    json.key("expectedResponseCode"); json.int(status)
                }
            }
            json.endObject()
            json.key("metadata"); json.stringMap([:])
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func selector(_ selector: ServiceSelector, into json: inout JSONWriter) {
        json.beginObject()
        json.key("type"); json.string(selector.type)
        if let expression = selector.expression {
            json.key("expression"); json.string(expression)
        }
        json.endObject()
    }

    /// `GET /service/list`: `count` is the total, `doms` the page of ungrouped names.
    public static func serviceList(count: Int, names: [String]) -> [UInt8] {
        var json = JSONWriter(capacity: 32 + names.count * 24)
        json.beginObject()
        json.key("count"); json.int(count)
        json.key("doms"); json.beginArray()
        for name in names { json.string(name) }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// `GET /operator/metrics`: the status alone, or with the registry's counts and `extra`
    /// (Registrar's own counters, after Nacos's fields).
    public static func metrics(
        status: String, statistics: Registry.Statistics?, extra: [(String, Int)] = [], load: Double = 0
    ) -> [UInt8] {
        var json = JSONWriter(capacity: 512)
        json.beginObject()
        json.key("status"); json.string(status)
        if let statistics {
            json.key("serviceCount"); json.int(statistics.serviceCount)
            json.key("instanceCount"); json.int(statistics.instanceCount)
            json.key("subscribeCount"); json.int(statistics.subscriptionCount)
            json.key("responsibleInstanceCount"); json.int(statistics.instanceCount - statistics.replicaInstanceCount)
            json.key("clientCount"); json.int(statistics.clientCount)
            json.key("connectionBasedClientCount"); json.int(statistics.connectionClientCount)
            json.key("ephemeralIpPortClientCount"); json.int(statistics.ephemeralIPPortClientCount)
            json.key("persistentIpPortClientCount"); json.int(statistics.persistentIPPortClientCount)
            json.key("responsibleClientCount"); json.int(statistics.clientCount - statistics.replicaClientCount)
            json.key("replicaClientCount"); json.int(statistics.replicaClientCount)
            json.key("load"); json.double(load)
            for (name, value) in extra {
                json.dynamicKey(name); json.int(value)
            }
        }
        json.endObject()
        return json.bytes
    }

    /// One cluster member as `GET /v1/core/cluster/nodes` lists it.
    public struct Member: Sendable {
        public var ip: String
        public var port: Int
        public var state: String
        public var version: String
        public var lastRefreshTime: Int64
        /// Probes of the member that failed in a row.
        public var failAccessCount: Int

        public init(
            ip: String, port: Int, state: String, version: String, lastRefreshTime: Int64, failAccessCount: Int = 0
        ) {
            self.ip = ip
            self.port = port
            self.state = state
            self.version = version
            self.lastRefreshTime = lastRefreshTime
            self.failAccessCount = failAccessCount
        }
    }

    /// `GET /v1/core/cluster/nodes`: a RestResult holding the members.
    public static func clusterNodes(_ members: [Member]) -> [UInt8] {
        var json = JSONWriter(capacity: 256 * max(1, members.count))
        json.beginObject()
        json.key("code"); json.int(200)
        json.key("message"); json.raw("null".utf8)
        json.key("data"); json.beginArray()
        for member in members { self.member(member, into: &json) }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// One member in Nacos's `Member` shape (also the v2 and v3 node endpoints).
    public static func member(_ member: Member, into json: inout JSONWriter) {
        json.beginObject()
        json.key("ip"); json.string(member.ip)
        json.key("port"); json.int(member.port)
        json.key("state"); json.string(member.state)
        json.key("extendInfo"); json.beginObject()
        json.key("lastRefreshTime"); json.int(member.lastRefreshTime)
        json.key("version"); json.string(member.version)
        json.endObject()
        json.key("address");
        json.string(member.ip.contains(":") ? "[\(member.ip)]:\(member.port)" : "\(member.ip):\(member.port)")
        json.key("failAccessCnt"); json.int(member.failAccessCount)
        json.key("abilities"); json.beginObject(); json.endObject()
        json.key("grpcReportEnabled"); json.bool(true)
        json.endObject()
    }

    /// `POST /v1/auth/login`.
    public static func login(accessToken: String, tokenTTL: Int, globalAdmin: Bool, username: String) -> [UInt8] {
        var json = JSONWriter(capacity: 160)
        json.beginObject()
        json.key("accessToken"); json.string(accessToken)
        json.key("tokenTtl"); json.int(tokenTTL)
        json.key("globalAdmin"); json.bool(globalAdmin)
        json.key("username"); json.string(username)
        json.endObject()
        return json.bytes
    }

    /// A UDP push packet: the ServiceInfo travels as a JSON string; `lastRefTime` is the ack key.
    public static func udpPush(serviceInfo: [UInt8], ackKey: Int64) -> [UInt8] {
        var json = JSONWriter(capacity: serviceInfo.count + 64)
        json.beginObject()
        json.key("type"); json.string("dom")
        json.key("data"); json.string(String(decoding: serviceInfo, as: UTF8.self))
        json.key("lastRefTime"); json.int(ackKey)
        json.endObject()
        return json.bytes
    }

    // MARK: Namespaces (`/nacos/v1/console/namespaces`)

    /// The console's namespace list: `{"code":200,"message":null,"data":[…]}`.
    public static func namespaceList(_ namespaces: [(info: NamespaceInfo, serviceCount: Int)]) -> [UInt8] {
        var json = JSONWriter(capacity: 128 + namespaces.count * 160)
        json.beginObject()
        json.key("code"); json.int(200)
        json.key("message"); json.raw("null".utf8)
        json.key("data"); json.beginArray()
        for (info, count) in namespaces { namespace(info, serviceCount: count, into: &json) }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// One namespace as a bare object (`?show=all&namespaceId=…`).
    public static func namespace(_ info: NamespaceInfo, serviceCount: Int) -> [UInt8] {
        var json = JSONWriter(capacity: 192)
        namespace(info, serviceCount: serviceCount, into: &json)
        return json.bytes
    }

    /// Nacos 2.x lists `public` with the id `""` and type 0 (global), created ones with type 2;
    /// 3.x says `"public"` (`publicId`) and type 1 (`customType`).
    static func namespace(
        _ info: NamespaceInfo, serviceCount: Int, publicId: String = "", customType: Int = 2,
        into json: inout JSONWriter
    ) {
        let isPublic = info.id == NamespaceInfo.publicNamespace.id
        json.beginObject()
        json.key("namespace"); json.string(isPublic ? publicId : info.id)
        json.key("namespaceShowName"); json.string(info.name)
        json.key("namespaceDesc"); json.string(info.description)
        json.key("quota"); json.int(200)
        json.key("configCount"); json.int(0)
        json.key("serviceCount"); json.int(serviceCount)
        json.key("type"); json.int(isPublic ? 0 : customType)
        json.endObject()
    }
}
