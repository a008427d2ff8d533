import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing

@testable import RegistrarTransport

/// A client and a server pipeline, each with the real `NIOHTTP2Handler` and our frame handler,
/// on one `EmbeddedEventLoop` and joined by copying bytes: every frame is really encoded,
/// parsed and flow-controlled, and time moves only when a test advances the loop's clock.
///
/// Threading: everything runs on the test's thread, which is the embedded loop's.
final class InMemoryHTTP2 {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientFrames: GRPCClientFrameHandler
    /// Sees the frames between the client's frame handler and its HTTP/2 handler.
    let clientTap = FrameTap()
    /// Sees the frames between the server's frame handler and its HTTP/2 handler.
    let serverTap = FrameTap()

    init(router: any GRPCServerConnectionHandler, maximumMessageSize: Int = 1 << 20) throws {
        client = EmbeddedChannel(loop: loop)
        server = EmbeddedChannel(loop: loop)
        clientFrames = GRPCClientFrameHandler(maximumMessageSize: maximumMessageSize)
        try client.pipeline.syncOperations.addHandlers(NIOHTTP2Handler(mode: .client), clientTap, clientFrames)
        try server.pipeline.syncOperations.addHandlers(
            NIOHTTP2Handler(mode: .server), serverTap,
            GRPCServerFrameHandler(router: router, maximumMessageSize: maximumMessageSize)
        )
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9848)
        try client.connect(to: address).wait()
        try server.connect(to: address).wait()
        try exchange()
    }

    /// Copies bytes both ways until neither end has anything left to send. Everything one end
    /// wrote arrives at the other as one read, so each copy is one read burst.
    func exchange() throws {
        for _ in 0..<1_000 {
            var moved = false
            if let bytes = try written(by: client) {
                try server.writeInbound(bytes)
                moved = true
            }
            if let bytes = try written(by: server) {
                try client.writeInbound(bytes)
                moved = true
            }
            if !moved { return }
        }
        Issue.record("the two ends were still talking after 1000 rounds")
    }

    /// Moves the loop's clock on, runs what fell due, and lets both ends answer.
    func advance(by amount: TimeAmount) throws {
        loop.advanceTime(by: amount)
        try exchange()
    }

    /// Opens a call from the client with `headers`, recording what the client hears.
    func open(
        _ headers: HPACKHeaders, clientTimeout: TimeAmount? = nil, flush: Bool = true
    ) -> (HTTP2StreamID?, CallOutcome) {
        let outcome = CallOutcome()
        let consumer = GRPCClientFrameHandler.Consumer.callbacks(
            onMessage: { outcome.messages.append($0) },
            onClose: { outcome.status = $0 }
        )
        return (clientFrames.open(headers: headers, timeout: clientTimeout, consumer: consumer, flush: flush), outcome)
    }

    static func requestHeaders(path: String, grpcTimeout: String? = nil) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "localhost",
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let grpcTimeout { headers.add(name: "grpc-timeout", value: grpcTimeout) }
        return headers
    }

    func finish() {
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    private func written(by channel: EmbeddedChannel) throws -> ByteBuffer? {
        var all: ByteBuffer?
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) {
            if all == nil { all = bytes } else { all!.writeImmutableBuffer(bytes) }
        }
        return all
    }
}

/// What the client end of one call heard.
final class CallOutcome {
    var messages: [ByteBuffer] = []
    var status: GRPCStatus?
}

/// Records the HTTP/2 frames passing it each way, and counts the flushes sent towards the
/// socket, so a test can say what a frame handler wrote and how often it flushed.
final class FrameTap: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private(set) var inbound: [HTTP2Frame] = []
    private(set) var outbound: [HTTP2Frame] = []
    private(set) var flushes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbound.append(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        outbound.append(unwrapOutboundIn(data))
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }

    func reset() {
        inbound.removeAll()
        outbound.removeAll()
        flushes = 0
    }
}

extension HTTP2Frame.FramePayload {
    var isWindowUpdate: Bool {
        if case .windowUpdate = self { return true }
        return false
    }

    var isHeaders: Bool {
        if case .headers = self { return true }
        return false
    }

    var isGoAway: Bool {
        if case .goAway = self { return true }
        return false
    }

    var isReset: Bool {
        if case .rstStream = self { return true }
        return false
    }
}

/// Routes `/test/echo` to a call that sends every message back and finishes OK on half-close,
/// and `/test/silent` to one that never answers. Counts the calls that reached `closed`.
final class EchoRoutes: GRPCServerConnectionHandler {
    let closedCalls = Atomic<Int>(0)

    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        switch path {
        case "/test/echo": EchoingCall(routes: self, answers: true)
        case "/test/silent": EchoingCall(routes: self, answers: false)
        default: nil
        }
    }

    func connectionClosed() {}
}

private final class EchoingCall: GRPCServerCallHandler {
    let routes: EchoRoutes
    let answers: Bool

    init(routes: EchoRoutes, answers: Bool) {
        self.routes = routes
        self.answers = answers
    }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        if answers { call.send(message) }
    }

    func inboundFinished(on call: GRPCServerCall) {
        if answers { call.finish(.ok) }
    }

    func closed(_ call: GRPCServerCall) {
        routes.closedCalls.add(1)
    }
}

extension Atomic where Value == Int {
    func add(_ amount: Int) { _ = wrappingAdd(amount, ordering: .relaxed) }
    var value: Int { load(ordering: .relaxed) }
}
