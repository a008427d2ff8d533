import NIOCore
import NIOPosix
import RegistrarTransport
import Synchronization
import Testing

/// Routes `/test/echo` to a handler that sends every message straight back and finishes OK when
/// the client half-closes, and `/test/silent` to one that never answers. Counts closed calls.
private final class EchoRouter: GRPCServerConnectionHandler {
    let closedCalls = Atomic<Int>(0)

    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        switch path {
        case "/test/echo": EchoCall(router: self, answers: true)
        case "/test/silent": EchoCall(router: self, answers: false)
        default: nil
        }
    }

    func connectionClosed() {}
}

private final class EchoCall: GRPCServerCallHandler {
    let router: EchoRouter
    let answers: Bool

    init(router: EchoRouter, answers: Bool) {
        self.router = router
        self.answers = answers
    }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        if answers { call.send(message) }
    }

    func inboundFinished(on call: GRPCServerCall) {
        if answers { call.finish(.ok) }
    }

    func closed(_ call: GRPCServerCall) {
        router.closedCalls.add(1, ordering: .relaxed)
    }
}

/// Our gRPC transport end to end on loopback: streams are states of one connection handler (no
/// child channels), so flow control, deadlines, resets and stream limits are its own work.
@Suite("gRPC transport over loopback")
struct TransportTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// Starts a server on a free port with `router`; returns it and a connected client.
    private func start(_ router: EchoRouter, maximumConcurrentStreams: Int = 1000) async throws -> (
        GRPCServer, GRPCClientConnection
    ) {
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.maximumConcurrentStreams = maximumConcurrentStreams
        let server = GRPCServer(configuration: configuration, group: Self.group) { _ in router }
        try await server.start()
        let port = try #require(server.localAddress?.port)
        let client = try await GRPCClientConnection.connect(host: "127.0.0.1", port: port, group: Self.group)
        return (server, client)
    }

    private func bytes(_ count: Int, seed: UInt8) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed })
    }

    @Test("a 1 MiB unary message crosses both ways: each end keeps the other's windows open")
    func largeUnaryMessages() async throws {
        let (server, client) = try await start(EchoRouter())
        let request = bytes(1 << 20, seed: 7)
        let response = try await client.unary(path: "/test/echo", request: request, timeout: .seconds(10)).get()
        #expect(response == request)
        await client.close()
        await server.stop()
    }

    @Test("a bi-stream carries 400 KiB each way in 400 messages, then ends OK on half-close")
    func longStreamPastTheWindow() async throws {
        let (server, client) = try await start(EchoRouter())
        let received = Mutex<[ByteBuffer]>([])
        let closed = client.eventLoop.makePromise(of: GRPCStatus.self)
        let call = try await client.openCall(
            path: "/test/echo", timeout: .seconds(10),
            onMessage: { message in
                received.withLock { $0.append(message) }
            }, onClose: { closed.succeed($0) }
        ).get()
        let sent = (0..<400).map { bytes(1024, seed: UInt8(truncatingIfNeeded: $0)) }
        for message in sent { call.send(message) }
        call.finish()
        let status = try await closed.futureResult.get()
        #expect(status.code == .ok)
        let got = received.withLock { $0 }
        let intact = got == sent
        #expect(got.count == sent.count)
        #expect(intact, "the echoed messages differ from the sent ones")
        await client.close()
        await server.stop()
    }

    @Test("an unanswered unary call fails with DEADLINE_EXCEEDED, is reset, and the connection goes on")
    func deadlineResetsTheStream() async throws {
        let router = EchoRouter()
        let (server, client) = try await start(router)
        for _ in 0..<2 {
            do {
                _ = try await client.unary(
                    path: "/test/silent", request: bytes(10, seed: 1), timeout: .milliseconds(200)
                ).get()
                Issue.record("a silent method answered")
            } catch let status as GRPCStatus {
                #expect(status.code == .deadlineExceeded)
            }
        }
        // The server heard both resets (or its own deadline) and closed both calls.
        for _ in 0..<100 where router.closedCalls.load(ordering: .relaxed) < 2 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(router.closedCalls.load(ordering: .relaxed) == 2)
        let echoed = try await client.unary(path: "/test/echo", request: bytes(10, seed: 2)).get()
        #expect(echoed == bytes(10, seed: 2))
        await client.close()
        await server.stop()
    }

    @Test("500 concurrent calls against a limit of 50 streams all complete: the client queues the rest")
    func moreCallsThanTheStreamLimit() async throws {
        let (server, client) = try await start(EchoRouter(), maximumConcurrentStreams: 50)
        // Let the server's SETTINGS arrive, so the limit is in force from the first call.
        _ = try await client.unary(path: "/test/echo", request: bytes(1, seed: 0)).get()
        let answers = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<500 {
                group.addTask {
                    let request = bytes(100, seed: UInt8(truncatingIfNeeded: n))
                    return try await client.unary(path: "/test/echo", request: request, timeout: .seconds(10)).get()
                        == request
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(answers.count == 500)
        #expect(answers.allSatisfy { $0 })
        await client.close()
        await server.stop()
    }

    @Test("an unknown method gets UNIMPLEMENTED; a closed connection fails new calls with UNAVAILABLE")
    func unknownMethodAndClosedConnection() async throws {
        let (server, client) = try await start(EchoRouter())
        do {
            _ = try await client.unary(path: "/test/nothing", request: bytes(1, seed: 0)).get()
            Issue.record("an unknown method answered")
        } catch let status as GRPCStatus {
            #expect(status.code == .unimplemented)
        }
        await client.close()
        do {
            _ = try await client.unary(path: "/test/echo", request: bytes(1, seed: 0)).get()
            Issue.record("a closed connection answered")
        } catch let status as GRPCStatus {
            #expect(status.code == .unavailable)
        }
        await server.stop()
    }
}
