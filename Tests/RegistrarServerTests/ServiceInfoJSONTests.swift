import Foundation
import RegistrarCore
@testable import RegistrarServer
import Testing

/// The ServiceInfo JSON the server encodes for queries and pushes.
@Suite("ServiceInfo encoding")
struct ServiceInfoJSONTests {
    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func serviceInfoHasTheShapeClientsNeed() throws {
        let service = ServiceKey(namespace: "public", group: "G", name: "orders")
        let instance = Instance(ip: "10.0.0.1", port: 80, weight: 2, metadata: ["v": "1", PreservedMetadata.heartbeatTimeout: "20000"])
        let snapshot = ServiceSnapshot(service: service, revision: 3, lastRefTime: 1234, clusters: "",
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
}
