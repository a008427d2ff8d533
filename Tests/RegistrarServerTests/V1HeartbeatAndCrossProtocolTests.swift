import Foundation
import RegistrarServer
import RegistrarTesting
import RegistrarWire
import Testing

/// The v1 heartbeat model with timings shortened through the preserved metadata keys, and the
/// two fronts sharing one registry.
@Suite("v1 heartbeats and cross-protocol", .stopsWhatItStarts)
struct V1HeartbeatAndCrossProtocolTests {
    static let shortTimings =
        #"{"preserved.heart.beat.interval":"200","preserved.heart.beat.timeout":"600","preserved.ip.delete.timeout":"1200"}"#

    static func fastSweeps(_ configuration: inout ServerConfiguration) {
        configuration.heartbeatScanInterval = .milliseconds(100)
    }

    @Test func silentInstanceTurnsUnhealthyThenExpiresAndSubscribersHearBoth() async throws {
        let server = try await TestServer.start(Self.fastSweeps)
        let subscriber = try await server.connect()
        _ = try await subscriber.subscribe("fading")
        let timings =
            #"{"preserved.heart.beat.interval":"200","preserved.heart.beat.timeout":"600","#
            + #""preserved.ip.delete.timeout":"2400"}"#

        try await server.http.register("fading", ip: "10.6.0.1", port: 80, [("metadata", timings)])
        let unhealthy = try await subscriber.nextPush(of: "fading", within: .seconds(5)) { hosts in
            hosts.count == 1 && hosts[0].healthy == false
        }
        #expect(unhealthy != nil, "no push with the instance unhealthy")
        // Listed while unhealthy (removal comes 1.8 s later: room for a slow machine).
        let listed = try #require(try await server.http.list("fading").hosts.first)
        #expect(listed["healthy"] as? Bool == false)
        #expect(listed["instanceHeartBeatTimeOut"] as? Int == 600)

        let removed = try await subscriber.nextPush(of: "fading", within: .seconds(5)) { $0.isEmpty }
        #expect(removed != nil, "no push with the instance removed")
        #expect(try await server.http.list("fading").hosts.isEmpty)
        // Its beat now asks for a new registration.
        #expect(try await server.http.beat("fading", ip: "10.6.0.1", port: 80).object["code"] as? Int == 20404)
    }

    @Test func beatingInstanceStaysHealthyAndABeatHealsAnUnhealthyOne() async throws {
        let server = try await TestServer.start(Self.fastSweeps)
        let http = server.http
        try await http.register("steady", ip: "10.6.1.1", port: 80, [("metadata", Self.shortTimings)])
        // Beat every 200 ms for 2 s: longer than both timeouts.
        for _ in 0..<10 {
            #expect(try await http.beat("steady", ip: "10.6.1.1", port: 80).object["code"] as? Int == 10200)
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await http.list("steady").hosts.first?["healthy"] as? Bool == true)

        // Stop beating until it is unhealthy, then one beat heals it.
        let turned = try await eventually(.seconds(5)) {
            try await http.list("steady").hosts.first?["healthy"] as? Bool == false
        }
        #expect(turned)
        #expect(try await http.beat("steady", ip: "10.6.1.1", port: 80).object["code"] as? Int == 10200)
        #expect(try await http.list("steady").hosts.first?["healthy"] as? Bool == true)
    }

    @Test func httpRegistrationIsPushedToGRPCSubscribers() async throws {
        let server = try await TestServer.start()
        let subscriber = try await server.connect()
        _ = try await subscriber.subscribe("bridge")
        try await server.http.register("bridge", ip: "10.6.2.1", port: 8080, [("metadata", "lang=java")])
        let push = try await subscriber.nextPush(of: "bridge") { hosts in
            hosts.contains { $0.ip == "10.6.2.1" && $0.port == 8080 }
        }
        #expect(push?.hosts?.first?.metadata == ["lang": "java"])
        try await server.http.call(
            "DELETE", "/nacos/v1/ns/instance", [("serviceName", "bridge"), ("ip", "10.6.2.1"), ("port", "8080")])
        #expect(try await subscriber.nextPush(of: "bridge") { $0.isEmpty } != nil)
    }

    @Test func grpcRegistrationIsVisibleInInstanceList() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let response = try await client.register("bridge2", ip: "10.6.3.1", port: 9090, metadata: ["lang": "swift"])
        #expect(response.resultCode == 200)
        let list = try await server.http.list("bridge2")
        #expect(list.hosts.count == 1)
        #expect(list.hosts.first?["ip"] as? String == "10.6.3.1" && list.hosts.first?["port"] as? Int == 9090)
        #expect(list.hosts.first?["metadata"] as? [String: String] == ["lang": "swift"])
        // The connection closes: the instance leaves the v1 view too.
        await client.close()
        #expect(try await eventually { try await server.http.list("bridge2").hosts.isEmpty })
    }
}
