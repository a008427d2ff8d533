import NIOCore
import NIOHTTP2
import Testing

@testable import RegistrarTransport

/// The client and server frame handlers against each other through real HTTP/2 handlers, on an
/// embedded loop: no sockets, and timeouts run on the loop's clock, not the wall's.
@Suite("frame handlers over in-memory HTTP/2")
struct FrameHandlerTests {
    private func bytes(_ count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    }

    @Test("a 300 KiB message goes each way: both ends send WINDOW_UPDATE, or the call would stall at 64 KiB")
    func windowsStayOpen() throws {
        let pair = try InMemoryHTTP2(router: EchoRoutes())
        defer { pair.finish() }
        let message = bytes(300 * 1024)
        let (stream, outcome) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/echo"))
        let id = try #require(stream)
        pair.clientFrames.send(message, on: id, endStream: true)
        try pair.exchange()

        #expect(outcome.status?.code == .ok)
        var received = ByteBuffer()
        for var part in outcome.messages { received.writeBuffer(&part) }
        #expect(received == message)
        // 300 KiB is more than four initial windows: each end must have reopened the other's.
        #expect(pair.serverTap.outbound.filter { $0.payload.isWindowUpdate }.count >= 4)
        #expect(pair.clientTap.outbound.filter { $0.payload.isWindowUpdate }.count >= 4)
    }

    @Test("a client's RST_STREAM ends the server's call: its handler hears closed")
    func resetReachesTheServerCall() throws {
        let routes = EchoRoutes()
        let pair = try InMemoryHTTP2(router: routes)
        defer { pair.finish() }
        let (stream, outcome) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/silent"))
        let id = try #require(stream)
        pair.clientFrames.send(bytes(10), on: id, endStream: false)
        try pair.exchange()
        #expect(routes.closedCalls.value == 0)

        pair.clientFrames.cancel(id)
        try pair.exchange()
        #expect(pair.serverTap.inbound.contains { $0.streamID == id && $0.payload.isReset })
        #expect(routes.closedCalls.value == 1)
        #expect(outcome.status?.code == .cancelled)
    }

    @Test("the server enforces grpc-timeout itself: DEADLINE_EXCEEDED from its trailers, not the client's clock")
    func serverEnforcesGRPCTimeout() throws {
        let routes = EchoRoutes()
        let pair = try InMemoryHTTP2(router: routes)
        defer { pair.finish() }
        // The client sets no deadline of its own: only the server can end this call.
        let (stream, outcome) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/silent", grpcTimeout: "200m"))
        let id = try #require(stream)
        pair.clientFrames.send(bytes(10), on: id, endStream: true)
        try pair.exchange()

        try pair.advance(by: .milliseconds(199))
        #expect(outcome.status == nil)
        try pair.advance(by: .milliseconds(2))
        #expect(outcome.status?.code == .deadlineExceeded)
        #expect(outcome.status?.message == "deadline exceeded")
        #expect(routes.closedCalls.value == 1)
        // The answer is trailers on the stream, not a reset.
        #expect(pair.serverTap.outbound.contains { $0.streamID == id && !$0.payload.isReset })
        #expect(!pair.serverTap.outbound.contains { $0.payload.isReset })
    }

    @Test("a call opened without a message reaches the server: its headers are flushed at once")
    func openedCallIsFlushed() throws {
        let pair = try InMemoryHTTP2(router: EchoRoutes())
        defer { pair.finish() }
        pair.serverTap.reset()
        let (stream, _) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/silent", grpcTimeout: "200m"))
        let id = try #require(stream)
        try pair.exchange()
        #expect(pair.serverTap.inbound.contains { $0.streamID == id && $0.payload.isHeaders })
    }

    @Test("GOAWAY reaches the client, which then opens no new stream; the server closes after the grace")
    func goAwayThenClose() throws {
        let pair = try InMemoryHTTP2(router: EchoRoutes())
        defer { pair.finish() }
        let connection = GRPCConnectionInfo(channel: pair.server, remoteAddress: nil, localAddress: nil)
        connection.goAway(grace: .seconds(1))
        pair.loop.run()
        try pair.exchange()
        #expect(pair.clientTap.inbound.contains { $0.payload.isGoAway })

        let (stream, outcome) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/echo"))
        if let stream { pair.clientFrames.send(bytes(4), on: stream, endStream: true) }
        try pair.exchange()
        #expect(outcome.status?.code == .unavailable)

        #expect(pair.server.isActive)
        try pair.advance(by: .seconds(1))
        #expect(!pair.server.isActive)
    }

    @Test("ten calls arriving in one read burst are answered with one flush, not one per write")
    func oneFlushPerReadBurst() throws {
        let pair = try InMemoryHTTP2(router: EchoRoutes())
        defer { pair.finish() }
        var outcomes: [CallOutcome] = []
        for index in 0..<10 {
            let (stream, outcome) = pair.open(InMemoryHTTP2.requestHeaders(path: "/test/echo"))
            pair.clientFrames.send(bytes(index + 1), on: try #require(stream), endStream: true)
            outcomes.append(outcome)
        }
        pair.serverTap.reset()
        try pair.exchange()

        #expect(outcomes.allSatisfy { $0.status?.code == .ok })
        #expect(outcomes.enumerated().allSatisfy { $1.messages.first?.readableBytes == $0 + 1 })
        // Response headers, message and trailers for each call, all in one flush.
        #expect(pair.serverTap.outbound.count == 30)
        #expect(pair.serverTap.flushes == 1)
    }
}
