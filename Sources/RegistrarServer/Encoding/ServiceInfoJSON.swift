import RegistrarCore
import RegistrarWire

/// How a ServiceInfo names its service.
public enum ServiceInfoStyle: Sendable, Hashable {
    /// gRPC (2.x SDKs): `name` is the bare name, with `groupName` beside it.
    case grpc
    /// v1 HTTP and UDP push (1.x SDKs): `name` is grouped, `group@@name`.
    case v1
}

/// The ServiceInfo JSON that queries return and pushes carry.
public enum ServiceInfoJSON {
    /// How long clients may cache the data (Nacos's default push cache millis).
    public static let cacheMillis = 10_000

    public static func encode(_ snapshot: ServiceSnapshot, style: ServiceInfoStyle = .grpc) -> [UInt8] {
        var json = JSONWriter(capacity: 256 + snapshot.hosts.count * 360)
        json.beginObject()
        json.key("name"); json.string(style == .grpc ? snapshot.service.name : snapshot.service.groupedName)
        json.key("groupName"); json.string(snapshot.service.group)
        json.key("clusters"); json.string(snapshot.clusters)
        json.key("cacheMillis"); json.int(cacheMillis)
        json.key("hosts"); json.beginArray()
        let groupedName = snapshot.service.groupedName
        for host in snapshot.hosts {
            encode(host, groupedName: groupedName, into: &json)
        }
        json.endArray()
        json.key("lastRefTime"); json.int(snapshot.lastRefTime)
        json.key("checksum"); json.string("")
        // 2.x clients read allIPs, 3.x clients read allIps.
        json.key("allIPs"); json.bool(false)
        json.key("allIps"); json.bool(false)
        json.key("reachProtectionThreshold"); json.bool(snapshot.reachProtectionThreshold)
        json.key("valid"); json.bool(true)
        json.endObject()
        return json.bytes
    }

    private static func encode(_ host: ServiceSnapshot.Host, groupedName: String, into json: inout JSONWriter) {
        let instance = host.instance
        json.beginObject()
        json.key("instanceId"); json.string(host.instanceId)
        json.instanceFields(instance)
        json.key("ephemeral"); json.bool(host.ephemeral)
        json.key("serviceName"); json.string(groupedName)
        let timing = HeartbeatTiming(metadata: instance.metadata)
        json.key("instanceHeartBeatInterval"); json.int(timing.interval)
        json.key("instanceHeartBeatTimeOut"); json.int(timing.timeout)
        json.key("ipDeleteTimeout"); json.int(timing.deleteTimeout)
        json.key("instanceIdGenerator");
        json.string(instance.metadata[PreservedMetadata.instanceIdGenerator] ?? "simple")
        json.endObject()
    }
}
