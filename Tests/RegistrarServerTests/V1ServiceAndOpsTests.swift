import Foundation
import RegistrarTesting
import Testing

/// The v1 service endpoints, and the probes, metrics, cluster view and login.
@Suite("v1 HTTP: services and operations", .stopsWhatItStarts)
struct V1ServiceAndOpsTests {
    @Test func serviceLifecycle() async throws {
        let server = try await TestServer.start()
        let http = server.http
        let path = "/nacos/v1/ns/service"
        let created = try await http.call(
            "POST", path,
            [
                ("serviceName", "inventory"), ("protectThreshold", "0.3"), ("metadata", #"{"team":"stock"}"#),
                ("selector", #"{"type":"label","expression":"CONSUMER.label.a = PROVIDER.label.a"}"#),
            ])
        #expect(created.body == "ok")
        let again = try await http.call("POST", path, [("serviceName", "inventory")])
        #expect(
            again.status == 400 && again.body.contains("specified service DEFAULT_GROUP@@inventory already exists!"))

        var detail = try await http.call("GET", path, [("serviceName", "inventory")]).object
        #expect(detail["name"] as? String == "inventory" && detail["groupName"] as? String == "DEFAULT_GROUP")
        #expect(detail["protectThreshold"] as? Double == 0.3)
        #expect(detail["metadata"] as? [String: String] == ["team": "stock"])
        #expect((detail["selector"] as? [String: String])?["type"] == "label")

        // An empty service created through the API is listed.
        try await http.register("inventory", ip: "10.8.0.1", port: 80, [("clusterName", "c1")])
        try await http.register("other", ip: "10.8.0.1", port: 80)
        let list = try await http.call("GET", path + "/list", [("pageNo", "1"), ("pageSize", "1")]).object
        #expect(list["count"] as? Int == 2 && list["doms"] as? [String] == ["inventory"])
        detail = try await http.call("GET", path, [("serviceName", "inventory")]).object
        #expect((detail["clusters"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["c1"])

        let missingThreshold = try await http.call("PUT", path, [("serviceName", "inventory")])
        #expect(
            missingThreshold.status == 400 && missingThreshold.body.contains("Param 'protectThreshold' is required."))
        #expect(
            try await http.call("PUT", path, [("serviceName", "inventory"), ("protectThreshold", "0.5")]).body == "ok")
        detail = try await http.call("GET", path, [("serviceName", "inventory")]).object
        #expect(detail["protectThreshold"] as? Double == 0.5 && detail["metadata"] as? [String: String] == [:])

        let notEmpty = try await http.call("DELETE", path, [("serviceName", "inventory")])
        #expect(notEmpty.status == 400 && notEmpty.body.contains("is not empty, can't be delete"))
        try await http.call(
            "DELETE", "/nacos/v1/ns/instance", [("serviceName", "inventory"), ("ip", "10.8.0.1"), ("port", "80")])
        #expect(try await http.call("DELETE", path, [("serviceName", "inventory")]).body == "ok")
        let gone = try await http.call("GET", path, [("serviceName", "inventory")])
        #expect(
            gone.status == 400
                && gone.body.contains("service not found, namespace: public, serviceName: DEFAULT_GROUP@@inventory"))
        let unknownUpdate = try await http.call("PUT", path, [("serviceName", "inventory"), ("protectThreshold", "0")])
        #expect(
            unknownUpdate.status == 400 && unknownUpdate.body.contains("service DEFAULT_GROUP@@inventory not found!"))

        // A persistent service refuses ephemeral instances, with Nacos's message.
        #expect(try await http.call("POST", path, [("serviceName", "hosts"), ("ephemeral", "false")]).body == "ok")
        let wrongKind = try await http.register("hosts", ip: "10.8.0.2", port: 22)
        #expect(
            wrongKind.status == 400
                && wrongKind.body.contains("is persistent service, can't register ephemeral instance."))
    }

    @Test func probesMetricsClusterAndLogin() async throws {
        let server = try await TestServer.start()
        let http = server.http
        #expect(try await http.call("GET", "/nacos/v1/console/health/liveness").body == "OK")
        #expect(try await http.call("GET", "/nacos/v1/console/health/readiness").body == "OK")
        #expect(try await http.call("GET", "/nacos/v1/ns/operator/metrics").object.keys.sorted() == ["status"])
        try await http.register("metered", ip: "10.7.0.1", port: 80)
        let metrics = try await http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")]).object
        #expect(metrics["status"] as? String == "UP")
        #expect(metrics["instanceCount"] as? Int == 1 && metrics["serviceCount"] as? Int == 1)
        #expect(metrics["ephemeralIpPortClientCount"] as? Int == 1)

        let nodes = try await http.call("GET", "/nacos/v1/core/cluster/nodes").object
        let members = try #require(nodes["data"] as? [[String: Any]])
        #expect(nodes["code"] as? Int == 200 && members.count == 1 && members[0]["state"] as? String == "UP")
        #expect(members[0]["ip"] as? String == "127.0.0.1")

        // In protected mode (no admin yet) there is nobody to log in as; loopback is served
        // without a token, and a token, valid or not, changes nothing (AuthTests covers login).
        for path in ["/nacos/v1/auth/login", "/nacos/v1/auth/users/login", "/nacos/v3/auth/user/login"] {
            let login = try await http.call("POST", path, form: [("username", "nacos"), ("password", "nacos")])
            #expect(login.status == 403 && login.object["accessToken"] == nil, "\(path): \(login.body)")
        }
        #expect(try await http.list("metered", [("accessToken", "anything")]).hosts.count == 1)
    }
}
