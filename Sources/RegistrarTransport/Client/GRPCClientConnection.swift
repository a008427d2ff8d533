import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Synchronization

/// One client HTTP/2 connection speaking gRPC over h2c: unary calls and bidirectional streams,
/// each a child stream of the same connection.
///
/// Threading: thread-safe. Callbacks of a stream run on the connection's event loop.
public final class GRPCClientConnection: Sendable {
    public let channel: Channel
    private let multiplexer: NIOLoopBound<NIOHTTP2Handler.StreamMultiplexer>
    private let authority: String
    public let maximumMessageSize: Int

    public var eventLoop: EventLoop { channel.eventLoop }
    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    private init(channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, authority: String, maximumMessageSize: Int) {
        self.channel = channel
        self.multiplexer = NIOLoopBound(multiplexer, eventLoop: channel.eventLoop)
        self.authority = authority
        self.maximumMessageSize = maximumMessageSize
    }

    /// Opens a connection. Fails within `connectTimeout` if the server cannot be reached.
    public static func connect(
        host: String,
        port: Int,
        group: EventLoopGroup,
        connectTimeout: TimeAmount = .seconds(3),
        maximumMessageSize: Int = 100 * 1024 * 1024
    ) async throws -> GRPCClientConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client,
                        connectionConfiguration: .init(),
                        streamConfiguration: .init()
                    ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                }
            }
        let channel = try await bootstrap.connect(host: host, port: port).get()
        return try await channel.eventLoop.submit {
            let multiplexer = try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self).syncMultiplexer()
            return GRPCClientConnection(channel: channel, multiplexer: multiplexer, authority: "\(host):\(port)", maximumMessageSize: maximumMessageSize)
        }.get()
    }

    private func headers(path: String, timeout: TimeAmount?) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let timeout { headers.add(name: "grpc-timeout", value: GRPCTimeout.headerValue(timeout)) }
        return headers
    }

    /// Opens a call. `onMessage` gets each response message; `onClose` gets the final status once.
    public func openCall(
        path: String,
        timeout: TimeAmount? = nil,
        onMessage: @escaping @Sendable (ByteBuffer) -> Void,
        onClose: @escaping @Sendable (GRPCStatus) -> Void
    ) -> EventLoopFuture<GRPCClientCall> {
        let requestHeaders = headers(path: path, timeout: timeout)
        let maximumMessageSize = self.maximumMessageSize
        let multiplexer = self.multiplexer
        return eventLoop.flatSubmit {
            multiplexer.value.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(
                        GRPCClientStreamHandler(
                            requestHeaders: requestHeaders,
                            maximumMessageSize: maximumMessageSize,
                            onMessage: onMessage,
                            onClose: onClose
                        )
                    )
                }
            }
        }.map { GRPCClientCall(stream: $0) }
    }

    /// One unary call: sends `request`, returns the single response message or throws its status.
    public func unary(path: String, request: ByteBuffer, timeout: TimeAmount = .seconds(3)) -> EventLoopFuture<ByteBuffer> {
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        let response = Mutex<ByteBuffer?>(nil)
        let timeoutTask = eventLoop.scheduleTask(in: timeout) {
            promise.fail(GRPCStatus(.deadlineExceeded, "no response within \(timeout)"))
        }
        openCall(path: path, timeout: timeout, onMessage: { message in
            response.withLock { $0 = message }
        }, onClose: { status in
            timeoutTask.cancel()
            if status.code == .ok, let message = response.withLock({ $0 }) {
                promise.succeed(message)
            } else if status.code == .ok {
                promise.fail(GRPCStatus(.internal, "unary call ended without a response message"))
            } else {
                promise.fail(status)
            }
        }).whenComplete { result in
            switch result {
            case .success(let call): call.send(request, endStream: true)
            case .failure(let error): timeoutTask.cancel(); promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }
}

/// The client side of one open call (a child HTTP/2 stream).
///
/// Threading: thread-safe; writes hop to the connection's event loop.
public struct GRPCClientCall: Sendable {
    let stream: Channel

    /// Sends one request message; `endStream` half-closes the call after it.
    public func send(_ message: ByteBuffer, endStream: Bool = false) {
        let framed = GRPCFraming.frame(message, allocator: stream.allocator)
        stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed), endStream: endStream)), promise: nil)
    }

    /// Half-closes the call (no more request messages).
    public func finish() {
        let empty = stream.allocator.buffer(capacity: 0)
        stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(empty), endStream: true)), promise: nil)
    }

    /// Abandons the call (RST_STREAM).
    public func cancel() {
        stream.close(promise: nil)
    }
}
