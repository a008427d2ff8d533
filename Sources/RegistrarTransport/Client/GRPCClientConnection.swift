import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// One client HTTP/2 connection speaking gRPC over h2c: unary calls and bidirectional streams,
/// each a stream of the same connection, managed by its `GRPCClientFrameHandler`.
///
/// Threading: thread-safe. Callbacks of a call run on the connection's event loop; a call
/// started on that loop is written without a hop.
public final class GRPCClientConnection: Sendable {
    public let channel: Channel
    private let frames: NIOLoopBound<GRPCClientFrameHandler>
    private let authority: String
    public let maximumMessageSize: Int

    public var eventLoop: EventLoop { channel.eventLoop }
    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    private init(channel: Channel, frames: GRPCClientFrameHandler, authority: String, maximumMessageSize: Int) {
        self.channel = channel
        self.frames = NIOLoopBound(frames, eventLoop: channel.eventLoop)
        self.authority = authority
        self.maximumMessageSize = maximumMessageSize
    }

    /// Opens a connection. Fails within `connectTimeout` if the server cannot be reached. With
    /// `tls`, the connection speaks TLS (the context should offer ALPN `h2`) and checks the
    /// server's certificate against `host` (a name or an IP address).
    public static func connect(
        host: String,
        port: Int,
        group: EventLoopGroup,
        connectTimeout: TimeAmount = .seconds(3),
        maximumMessageSize: Int = 100 * 1024 * 1024,
        tls: NIOSSLContext? = nil
    ) async throws -> GRPCClientConnection {
        // SNI takes names only; an IP address is still checked against the certificate's SANs.
        let serverName = host.contains(where: { $0.isLetter }) && !host.contains(":") ? host : nil
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    // The client reads only :status, grpc-status and grpc-message of an answer,
                    // so it skips RFC 9113's header-block checks (a sizeable part of its CPU per
                    // call); the server keeps them for what clients send it.
                    var configuration = NIOHTTP2Handler.ConnectionConfiguration()
                    configuration.headerBlockValidation = .disabled
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, connectionConfiguration: configuration))
                    try sync.addHandler(GRPCClientFrameHandler(maximumMessageSize: maximumMessageSize))
                }
            }
        let channel = try await bootstrap.connect(host: host, port: port).get()
        return try await channel.eventLoop.submit {
            let frames = try channel.pipeline.syncOperations.handler(type: GRPCClientFrameHandler.self)
            return GRPCClientConnection(
                channel: channel, frames: frames, authority: "\(host):\(port)", maximumMessageSize: maximumMessageSize)
        }.get()
    }

    private func headers(path: String, timeout: TimeAmount?) -> HPACKHeaders {
        Self.requestHeaders(path: path, authority: authority, timeout: timeout)
    }

    /// The request headers of a call on `path` (also what the fuzz seeds are made with).
    static func requestHeaders(path: String, authority: String, timeout: TimeAmount?) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let timeout { headers.add(name: "grpc-timeout", value: GRPCTimeout.headerValue(timeout)) }
        return headers
    }

    /// Opens a call. `onMessage` gets each response message; `onClose` gets the final status once.
    ///
    /// `timeout` is sent as `grpc-timeout` and, unless `enforcedLocally` is false, also ends the
    /// call on this side. A call that only announces it leaves the deadline to the server, which
    /// is how a test proves the server honours the header.
    public func openCall(
        path: String,
        timeout: TimeAmount? = nil,
        enforcedLocally: Bool = true,
        onMessage: @escaping @Sendable (ByteBuffer) -> Void,
        onClose: @escaping @Sendable (GRPCStatus) -> Void
    ) -> EventLoopFuture<GRPCClientCall> {
        let requestHeaders = headers(path: path, timeout: timeout)
        let localDeadline = enforcedLocally ? timeout : nil
        let frames = self.frames
        return eventLoop.submit {
            let consumer = GRPCClientFrameHandler.Consumer.callbacks(onMessage: onMessage, onClose: onClose)
            guard
                let streamID = frames.value.open(
                    headers: requestHeaders, timeout: localDeadline, consumer: consumer, flush: true)
            else {
                throw GRPCStatus(.unavailable, "connection closed")
            }
            return GRPCClientCall(frames: frames, streamID: streamID)
        }
    }

    /// One unary call: sends `request`, returns the single response message or throws its status.
    /// A call with no answer within `timeout` fails with DEADLINE_EXCEEDED and is reset.
    public func unary(path: String, request: ByteBuffer, timeout: TimeAmount = .seconds(3)) -> EventLoopFuture<
        ByteBuffer
    > {
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        let requestHeaders = headers(path: path, timeout: timeout)
        let frames = self.frames
        frames.withHandler { frames in
            guard
                let id = frames.open(headers: requestHeaders, timeout: timeout, consumer: .unary(promise), flush: false)
            else { return }
            frames.send(request, on: id, endStream: true)
        }
        return promise.futureResult
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }
}

/// The client side of one open call (an HTTP/2 stream of its connection).
///
/// Threading: thread-safe; from off the connection's event loop, writes hop to it.
public struct GRPCClientCall: Sendable {
    let frames: NIOLoopBound<GRPCClientFrameHandler>
    let streamID: HTTP2StreamID

    /// Sends one request message; `endStream` half-closes the call after it.
    public func send(_ message: ByteBuffer, endStream: Bool = false) {
        let streamID = self.streamID
        frames.withHandler { $0.send(message, on: streamID, endStream: endStream) }
    }

    /// Half-closes the call (no more request messages).
    public func finish() {
        let streamID = self.streamID
        frames.withHandler { $0.halfClose(streamID) }
    }

    /// Abandons the call (RST_STREAM).
    public func cancel() {
        let streamID = self.streamID
        frames.withHandler { $0.cancel(streamID) }
    }
}

extension NIOLoopBound where Value == GRPCClientFrameHandler {
    /// Runs `body` with the handler on its event loop: at once if already there, otherwise
    /// after a hop.
    func withHandler(_ body: @escaping @Sendable (GRPCClientFrameHandler) -> Void) {
        if eventLoop.inEventLoop {
            body(value)
        } else {
            let bound = self
            eventLoop.execute { body(bound.value) }
        }
    }
}
