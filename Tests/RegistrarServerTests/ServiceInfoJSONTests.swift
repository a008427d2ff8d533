import Foundation
import RegistrarCore
import Testing

@testable import RegistrarServer

/// The ServiceInfo JSON the server encodes for queries and pushes.
@Suite("ServiceInfo encoding")
struct ServiceInfoJSONTests {
    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func serviceInfoHasTheShapeClientsNeed() throws {
        let service = ServiceKey(namespace: "public", group: "G", name: "orders")
        let instance = Instance(
            ip: "10.0.0.1", port: 80, weight: 2, metadata: ["v": "1", PreservedMetadata.heartbeatTimeout: "20000"])
        let snapshot = ServiceSnapshot(
            service: service, revision: 3, lastRefTime: 1234, clusters: "",
            hosts: [.init(instance: instance, instanceId: instance.instanceId(in: service), ephemeral: true)],
            reachProtectionThreshold: false)
        let json = try object(ServiceInfoJSON.encode(snapshot))
        #expect(json["name"] as? String == "orders")
        #expect(json["groupName"] as? String == "G")
        #expect(json["allIPs"] as? Bool == false && json["allIps"] as? Bool == false)
        #expect(json["lastRefTime"] as? Int == 1234)
        let host = try #require((json["hosts"] as? [[String: Any]])?.first)
        #expect(host["serviceName"] as? String == "G@@orders")
        #expect(host["instanceId"] as? String == "10.0.0.1#80#DEFAULT#G@@orders")
        #expect(host["weight"] as? Double == 2)
        #expect(host["instanceHeartBeatTimeOut"] as? Int == 20000)
        #expect(host["instanceHeartBeatInterval"] as? Int == 5000)
        #expect(!String(decoding: ServiceInfoJSON.encode(snapshot), as: UTF8.self).contains("null"))
    }

    /// The three instance shapes (query and push, v1 detail, Distro) share one writer for the
    /// common fields; each keeps exactly its own extra fields, and Distro reads back what it wrote.
    @Test func eachInstanceShapeCarriesItsFields() throws {
        let service = ServiceKey(namespace: "public", group: "G", name: "orders")
        var instance = Instance(ip: "10.0.0.1", port: 80, weight: 2, metadata: ["v": "1"])
        instance.enabled = false
        instance.clusterName = "east"
        let snapshot = ServiceSnapshot(
            service: service, revision: 3, lastRefTime: 1234, clusters: "",
            hosts: [.init(instance: instance, instanceId: instance.instanceId(in: service), ephemeral: true)],
            reachProtectionThreshold: false)
        let common: Set<String> = ["ip", "port", "weight", "healthy", "enabled", "clusterName", "metadata"]

        let host = try #require((try object(ServiceInfoJSON.encode(snapshot))["hosts"] as? [[String: Any]])?.first)
        #expect(
            Set(host.keys)
                == common.union([
                    "instanceId", "ephemeral", "serviceName", "instanceHeartBeatInterval", "instanceHeartBeatTimeOut",
                    "ipDeleteTimeout", "instanceIdGenerator",
                ]))
        #expect(host["enabled"] as? Bool == false && host["clusterName"] as? String == "east")

        let detail = try object(V1JSON.instanceDetail(instance, service: service))
        #expect(Set(detail.keys) == common.union(["service", "instanceId"]))
        #expect(detail["service"] as? String == "G@@orders" && detail["port"] as? Int == 80)

        let datum = ClientDatum(
            clientId: "c1", revision: 7, owner: "10.0.0.9:8848", publications: [service: [instance]])
        let batch = DistroJSON.Batch(data: [datum])
        let encoded = DistroJSON.encode(batch)
        let services = try #require(
            (try object(encoded)["data"] as? [[String: Any]])?.first?["services"] as? [[String: Any]])
        let replicated = try #require((services.first?["instances"] as? [[String: Any]])?.first)
        #expect(Set(replicated.keys) == common)
        #expect(try DistroJSON.decodeBatch(Data(encoded)) == batch)
    }
}
