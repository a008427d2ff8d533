import Foundation
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import Synchronization
import Testing

/// Active health checks of persistent instances against real listeners on loopback.
@Suite("Health checks of persistent instances", .stopsWhatItStarts)
struct HealthCheckTests {
    static func server() async throws -> TestServer {
        try await TestServer.start { configuration in
            configuration.healthCheckInterval = .milliseconds(150)
            configuration.healthCheckTimeout = .milliseconds(500)
            configuration.healthCheckThreshold = 2
        }
    }

    @Test func tcpCheckFlipsHealthWhenTheListenerClosesAndReopensAndThresholdProtects() async throws {
        let server = try await Self.server()
        let primary = try await Listener.open(port: 0)
        let port = primary.port
        let replica = try await Listener.open(port: 0)
        tearDownAfterTest { await replica.close() }
        #expect(
            try await server.http.call(
                "POST", "/nacos/v1/ns/service",
                [("serviceName", "guarded"), ("protectThreshold", "0.6"), ("ephemeral", "false")]
            ).body == "ok")
        let writer = try await server.connect()
        #expect(try await writer.persistent("registerInstance", "pg", ip: "127.0.0.1", port: port).resultCode == 200)
        #expect(
            try await writer.persistent("registerInstance", "guarded", ip: "127.0.0.1", port: port).resultCode == 200)
        #expect(
            try await writer.persistent("registerInstance", "guarded", ip: "127.0.0.1", port: replica.port).resultCode
                == 200)
        let subscriber = try await server.connect()
        #expect(try await subscriber.subscribe("pg").serviceInfo?.hosts?.first?.healthy == true)

        await primary.close()
        let down = try await subscriber.nextPush(of: "pg") { $0.first?.healthy == false }
        #expect(down != nil, "no push of the instance turning unhealthy")
        // One of two healthy is under the 0.6 threshold: reads return both, marked healthy. The
        // guarded service's instance on the closed port is probed on its own schedule: wait for it.
        let http = server.http
        #expect(
            try await eventually {
                try await http.list("guarded", [("healthyOnly", "true")]).object["reachProtectionThreshold"] as? Bool
                    == true
            })
        let guarded = try await server.http.list("guarded", [("healthyOnly", "true")]).object
        #expect((guarded["hosts"] as? [[String: Any]])?.count == 2)
        #expect((guarded["hosts"] as? [[String: Any]])?.allSatisfy { $0["healthy"] as? Bool == true } == true)
        #expect(guarded["reachProtectionThreshold"] as? Bool == true)

        let reopened = try await Listener.open(port: port)
        tearDownAfterTest { await reopened.close() }
        let up = try await subscriber.nextPush(of: "pg") { $0.first?.healthy == true }
        #expect(up != nil, "no push of the instance turning healthy again")
    }

    @Test func httpCheckUsesTheClusterPathAndStatus() async throws {
        let server = try await Self.server()
        let responder = try await Listener.open(port: 0, httpStatus: 503)
        tearDownAfterTest { await responder.close() }
        #expect(
            try await server.http.call(
                "PUT", "/nacos/v1/ns/cluster",
                [
                    ("serviceName", "api"), ("clusterName", "DEFAULT"),
                    ("healthChecker", #"{"type":"HTTP","path":"/health"}"#),
                ]
            ).body == "ok")
        let bad = try await server.http.call(
            "PUT", "/nacos/v1/ns/cluster",
            [("serviceName", "api"), ("clusterName", "DEFAULT"), ("healthChecker", #"{"type":"SMTP"}"#)])
        #expect(bad.status == 400 && bad.body.contains("healthChecker"))
        let subscriber = try await server.connect()
        _ = try await subscriber.subscribe("api")
        #expect(
            try await server.http.register("api", ip: "127.0.0.1", port: responder.port, [("ephemeral", "false")]).body
                == "ok")

        let down = try await subscriber.nextPush(of: "api") { $0.first?.healthy == false }
        #expect(down != nil, "a 503 did not mark the instance unhealthy")
        #expect(responder.state.requests.withLock { $0.first }?.hasPrefix("GET /health HTTP/1.1") == true)
        responder.state.status.store(200, ordering: .relaxed)
        let up = try await subscriber.nextPush(of: "api") { $0.first?.healthy == true }
        #expect(up != nil, "a 200 did not mark the instance healthy")
    }
}

/// A loopback listener that accepts connections (a TCP check passes) and, with `httpStatus`,
/// answers every request with that status.
final class Listener: Sendable {
    final class State: Sendable {
        let status: Atomic<Int>
        let requests = Mutex<[String]>([])

        init(status: Int) { self.status = Atomic(status) }
    }

    let channel: any Channel
    let port: Int
    let state: State

    private init(channel: any Channel, state: State) {
        self.channel = channel
        self.port = channel.localAddress!.port!
        self.state = state
    }

    static func open(port: Int, httpStatus: Int = 0) async throws -> Listener {
        let state = State(status: httpStatus)
        let channel = try await ServerBootstrap(group: TestServer.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(Responder(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return Listener(channel: channel, state: state)
    }

    func close() async {
        try? await channel.close()
    }

    private final class Responder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let state: State

        init(state: State) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let status = state.status.load(ordering: .relaxed)
            guard status > 0 else { return }
            let text = String(buffer: unwrapInboundIn(data))
            state.requests.withLock { $0.append(text) }
            let response = "HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
            context.close(promise: nil)
        }
    }
}
