import Foundation
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import Testing

/// Slow and greedy clients: half-sent requests and silent sockets are closed by their
/// deadlines, and one IP cannot take more than its share of connections, while everyone else
/// is served throughout.
@Suite("Slow clients and connection limits", .stopsWhatItStarts)
struct SlowClientTests {
    /// A raw TCP connection that writes `bytes` and then says nothing more.
    private func trickle(_ bytes: String, to port: Int) async throws -> Channel {
        let channel = try await ClientBootstrap(group: TestServer.group).connect(host: "127.0.0.1", port: port).get()
        if !bytes.isEmpty {
            // Under load the deadline may already have closed it; the test then sees it closed.
            try? await channel.writeAndFlush(ByteBuffer(string: bytes)).get()
        }
        tearDownAfterTest { try? await channel.close() }
        return channel
    }

    private func closed(_ channel: Channel) async throws -> Bool {
        try await withTimeout(.seconds(5)) {
            try? await channel.closeFuture.get()
            return true
        }
    }

    @Test func aHalfSentHTTPRequestIsClosedByTheHeaderTimeoutWhileOthersAreServed() async throws {
        let server = try await TestServer.start { $0.httpHeaderTimeout = .seconds(1) }
        let slow = try await trickle(
            "GET /nacos/v1/ns/instance/list?serviceName=x HTTP/1.1\r\nHost: a\r\n", to: server.http.port)
        #expect(try await server.http.register("busy", ip: "10.9.0.1", port: 1).body == "ok")
        #expect(try await closed(slow))
        #expect(try await server.metric("httpHeaderTimeouts") == 1)
        // A request that arrives whole on a new connection is untouched by the deadline.
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await server.http.list("busy").hosts.count == 1)
    }

    @Test func aSilentOrTricklingSocketOnTheSDKPortIsClosedByTheHandshakeTimeout() async throws {
        let server = try await TestServer.start { $0.handshakeTimeout = .seconds(1) }
        let silent = try await trickle("", to: server.port)
        let trickling = try await trickle("PRI * HTTP/2.0\r\n", to: server.port)
        let client = try await server.connect()
        #expect(try await closed(silent))
        #expect(try await closed(trickling))
        #expect(try await server.metric("grpcHandshakeTimeouts") == 2)
        // A real client that completed its preface stays.
        #expect(try await client.register("calm", ip: "10.9.0.2", port: 1).resultCode == 200)
    }

    @Test func connectionsOverThePerIPLimitAreRefusedAndTheOthersStayUp() async throws {
        let server = try await TestServer.start { $0.maximumConnectionsPerIP = 2 }
        let first = try await server.connect()
        let second = try await server.connect()
        await #expect(throws: (any Error).self) { _ = try await server.connect() }
        #expect(try await server.metric("grpcConnectionsRefusedPerIP") == 1)
        #expect(try await first.register("shared", ip: "10.9.0.3", port: 1).resultCode == 200)
        #expect(try await second.register("shared", ip: "10.9.0.4", port: 1).resultCode == 200)
        // A slot freed is a slot for the next connection.
        await first.close()
        #expect(try await eventually { try await server.metric("grpcConnectionCount") == 1 })
        let third = try await server.connect()
        #expect(try await third.query("shared").serviceInfo?.hosts?.count == 1)
    }

    @Test func aFloodingConnectionIsRateLimitedAndItsNeighbourIsNot() async throws {
        let server = try await TestServer.start {
            // The burst, then about one more a second: most of a quick run of 20 is refused.
            $0.requestsPerSecondPerConnection = 1
            $0.requestBurstPerConnection = 5
        }
        let flooder = try await server.connect()
        let neighbour = try await server.connect()
        var codes: [Int] = []
        for port in 1...20 {
            codes.append(try await flooder.register("flood", ip: "10.9.1.1", port: port).errorCode ?? 0)
        }
        #expect(codes.prefix(5).allSatisfy { $0 == 0 }, "\(codes)")
        #expect(codes.filter { $0 == 429 }.count >= 10, "\(codes)")
        #expect(try await neighbour.register("calm", ip: "10.9.1.2", port: 1).resultCode == 200)
        #expect(try await server.metric("grpcRequestsRateLimited") ?? 0 >= 10)
    }
}
