import Foundation
import RegistrarTesting
import Testing

/// The v1 instance endpoints over a real socket: shapes, parameter rules and edits.
@Suite("v1 HTTP: instances", .stopsWhatItStarts)
struct V1InstanceAPITests {
    @Test func registerListDetailAndDeregister() async throws {
        let server = try await TestServer.start()
        let http = server.http
        let reply = try await http.register(
            "orders", ip: "10.0.0.1", port: 8080,
            [
                ("clusterName", "east"), ("weight", "2.5"), ("metadata", #"{"version":"v1","zone":3}"#),
                ("healthy", "True"), ("enable", "True"),
            ])
        #expect(reply.status == 200 && reply.body == "ok")
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain") == true)
        // The same registration as a form body, into a grouped name.
        let form = try await http.call(
            "POST", "/nacos/v1/ns/instance",
            form: [
                ("serviceName", "billing@@orders"), ("ip", "10.0.0.2"), ("port", "9090"), ("metadata", "a=1,b=2"),
            ])
        #expect(form.body == "ok")

        let list = try await http.list("orders")
        #expect(list.status == 200)
        #expect(list.object["name"] as? String == "DEFAULT_GROUP@@orders")
        #expect(list.object["cacheMillis"] as? Int == 10000)
        #expect(list.object["checksum"] as? String == "")
        let host = try #require(list.hosts.first)
        #expect(list.hosts.count == 1)
        #expect(host["ip"] as? String == "10.0.0.1" && host["port"] as? Int == 8080)
        #expect(host["weight"] as? Double == 2.5 && host["clusterName"] as? String == "east")
        #expect(host["metadata"] as? [String: String] == ["version": "v1", "zone": "3"])
        #expect(host["serviceName"] as? String == "DEFAULT_GROUP@@orders")
        #expect(host["instanceId"] as? String == "10.0.0.1#8080#east#DEFAULT_GROUP@@orders")

        let grouped = try await http.list("orders", [("groupName", "billing")])
        #expect(grouped.hosts.map { $0["metadata"] as? [String: String] } == [["a": "1", "b": "2"]])
        #expect(try await http.list("orders", [("clusters", "west")]).hosts.isEmpty)

        let detail = try await http.call(
            "GET", "/nacos/v1/ns/instance",
            [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "8080"), ("clusterName", "east")])
        #expect(detail.object["service"] as? String == "DEFAULT_GROUP@@orders")
        #expect(detail.object["weight"] as? Double == 2.5)
        let wrongCluster = try await http.call(
            "GET", "/nacos/v1/ns/instance", [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "8080")])
        #expect(
            wrongCluster.status == 404
                && wrongCluster.body.contains("no ips found for cluster DEFAULT in service DEFAULT_GROUP@@orders"))
        let wrongIP = try await http.call(
            "GET", "/nacos/v1/ns/instance",
            [("serviceName", "orders"), ("ip", "10.0.0.9"), ("port", "8080"), ("clusterName", "east")])
        #expect(wrongIP.status == 404 && wrongIP.body.contains("no matched ip found!"))

        let gone = try await http.call(
            "DELETE", "/nacos/v1/ns/instance", [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "8080")])
        #expect(gone.body == "ok")
        #expect(try await http.list("orders").hosts.isEmpty)
        // Deleting what does not exist is still ok, as in Nacos.
        #expect(
            try await http.call(
                "DELETE", "/nacos/v1/ns/instance", [("serviceName", "nothing"), ("ip", "10.0.0.1"), ("port", "1")]
            ).body == "ok")
        // An unknown service lists empty, with the envelope.
        let unknown = try await http.list("never-registered")
        #expect(
            unknown.status == 200 && unknown.hosts.isEmpty && unknown.object["groupName"] as? String == "DEFAULT_GROUP")
    }

    @Test func operatorEditsApplyAndSurviveReRegistration() async throws {
        let server = try await TestServer.start()
        let http = server.http
        try await http.register("catalog", ip: "10.0.1.1", port: 80, [("metadata", #"{"owner":"team-a"}"#)])
        try await http.register("catalog", ip: "10.0.1.2", port: 80)
        let put = try await http.call(
            "PUT", "/nacos/v1/ns/instance",
            [
                ("serviceName", "catalog"), ("ip", "10.0.1.1"), ("port", "80"), ("weight", "7"),
                ("metadata", "tier=gold"),
            ])
        #expect(put.body == "ok")
        var host = try #require(try await http.list("catalog").hosts.first { $0["ip"] as? String == "10.0.1.1" })
        #expect(host["weight"] as? Double == 7)
        #expect(host["metadata"] as? [String: String] == ["owner": "team-a", "tier": "gold"])

        // The owner re-registers (as a client's redo would): the operator's edit stays.
        try await http.register("catalog", ip: "10.0.1.1", port: 80, [("metadata", #"{"owner":"team-a"}"#)])
        host = try #require(try await http.list("catalog").hosts.first { $0["ip"] as? String == "10.0.1.1" })
        #expect(host["weight"] as? Double == 7)

        // PATCH changes only what it is given; a disabled instance is left out of lists.
        let patch = try await http.call(
            "PATCH", "/nacos/v1/ns/instance",
            [("serviceName", "catalog"), ("ip", "10.0.1.2"), ("port", "80"), ("enabled", "false")])
        #expect(patch.body == "ok")
        #expect(try await http.list("catalog").hosts.map { $0["ip"] as? String } == ["10.0.1.1"])
        let detail = try await http.call(
            "GET", "/nacos/v1/ns/instance", [("serviceName", "catalog"), ("ip", "10.0.1.2"), ("port", "80")])
        #expect(detail.status == 200, "a disabled instance is still found by detail")

        let missing = try await http.call(
            "PATCH", "/nacos/v1/ns/instance",
            [("serviceName", "catalog"), ("ip", "10.0.1.9"), ("port", "80"), ("weight", "2")])
        #expect(missing.status == 404 && missing.body.contains("no matched ip found!"))
        let noService = try await http.call(
            "PUT", "/nacos/v1/ns/instance", [("serviceName", "nowhere"), ("ip", "10.0.1.1"), ("port", "80")])
        #expect(
            noService.status == 400
                && noService.body.contains("service not found, namespace: public, service: DEFAULT_GROUP@@nowhere"))
    }

    @Test func beatsRefreshReRegisterOrAskForRegistration() async throws {
        let server = try await TestServer.start()
        let http = server.http
        try await http.register(
            "beats", ip: "10.0.2.1", port: 80, [("metadata", #"{"preserved.heart.beat.interval":"3000"}"#)])
        let refreshed = try await http.beat("DEFAULT_GROUP@@beats", ip: "10.0.2.1", port: 80)
        #expect(refreshed.object["code"] as? Int == 10200)
        #expect(refreshed.object["clientBeatInterval"] as? Int == 3000)
        #expect(refreshed.object["lightBeatEnabled"] as? Bool == true)

        // A light beat for an unknown instance asks the client to register again.
        let unknown = try await http.beat("beats", ip: "10.0.2.2", port: 80)
        #expect(unknown.status == 200 && unknown.object["code"] as? Int == 20404)
        #expect(try await http.list("beats").hosts.count == 1)

        // A full beat (the Java client's, with the beat JSON in a form body) re-registers it.
        let full = try await http.call(
            "PUT", "/nacos/v1/ns/instance/beat", [("serviceName", "DEFAULT_GROUP@@beats")],
            form: [
                (
                    "beat",
                    #"{"ip":"10.0.2.2","port":80,"serviceName":"DEFAULT_GROUP@@beats","cluster":"c1","weight":2.0,"metadata":{"k":"v"},"scheduled":false,"period":5000,"stopped":false}"#
                )
            ])
        #expect(full.object["code"] as? Int == 10200)
        let added = try #require(try await http.list("beats").hosts.first { $0["ip"] as? String == "10.0.2.2" })
        #expect(added["clusterName"] as? String == "c1" && added["weight"] as? Double == 2.0)
        #expect(added["metadata"] as? [String: String] == ["k": "v"])
    }

    @Test func protectionThresholdFlagsAndKeepsInstances() async throws {
        let server = try await TestServer.start()
        let http = server.http
        #expect(
            try await http.call(
                "POST", "/nacos/v1/ns/service", [("serviceName", "guarded"), ("protectThreshold", "0.6")]
            ).body == "ok")
        try await http.register("guarded", ip: "10.0.3.1", port: 80)
        try await http.register("guarded", ip: "10.0.3.2", port: 80, [("healthy", "false")])
        let list = try await http.list("guarded", [("healthyOnly", "true")])
        #expect(list.object["reachProtectionThreshold"] as? Bool == true)
        #expect(list.hosts.count == 2 && list.hosts.allSatisfy { $0["healthy"] as? Bool == true })
        // Without stored metadata there is no threshold: unhealthy hosts are dropped.
        try await http.register("unguarded", ip: "10.0.3.1", port: 80)
        try await http.register("unguarded", ip: "10.0.3.2", port: 80, [("healthy", "false")])
        let plain = try await http.list("unguarded", [("healthyOnly", "true")])
        #expect(plain.object["reachProtectionThreshold"] as? Bool == false && plain.hosts.count == 1)
    }
}
