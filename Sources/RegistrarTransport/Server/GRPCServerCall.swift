import NIOCore
import NIOHPACK
import NIOHTTP2

/// What the application supplies for each call: it receives the call's messages.
///
/// Threading: every method is called on the connection's event loop, in order.
public protocol GRPCServerCallHandler: AnyObject {
    /// One complete request message.
    func received(message: ByteBuffer, on call: GRPCServerCall)
    /// The client half-closed its side of the stream (END_STREAM).
    func inboundFinished(on call: GRPCServerCall)
    /// The stream is gone: finished, reset by the peer, or its connection closed.
    func closed(_ call: GRPCServerCall)
}

extension GRPCServerCallHandler {
    public func inboundFinished(on call: GRPCServerCall) {}
    public func closed(_ call: GRPCServerCall) {}
}

/// One gRPC call (an HTTP/2 stream) on the server side.
///
/// Threading: loop-bound. Use it only on `eventLoop`, the event loop of its connection.
public final class GRPCServerCall {
    /// The method path, for example `/Request/request`.
    public let path: String
    /// The request headers.
    public let headers: HPACKHeaders
    /// When the client's `grpc-timeout` runs out, if it sent one.
    public let deadline: NIODeadline?
    public let eventLoop: EventLoop

    private let channel: Channel
    private var sentHeaders = false
    public private(set) var isFinished = false

    init(path: String, headers: HPACKHeaders, deadline: NIODeadline?, channel: Channel) {
        self.path = path
        self.headers = headers
        self.deadline = deadline
        self.channel = channel
        self.eventLoop = channel.eventLoop
    }

    /// Whether the stream can take more bytes without queuing past its flow-control window.
    public var isWritable: Bool { channel.isWritable }

    /// Sends one response message. Ignored once the call is finished.
    public func send(_ message: ByteBuffer, flush: Bool = true) {
        eventLoop.preconditionInEventLoop()
        guard !isFinished else { return }
        writeResponseHeadersIfNeeded()
        let framed = GRPCFraming.frame(message, allocator: channel.allocator)
        let payload = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed)))
        if flush { channel.writeAndFlush(payload, promise: nil) } else { channel.write(payload, promise: nil) }
    }

    /// Ends the call with `status`: trailers after a response, or a trailers-only response.
    public func finish(_ status: GRPCStatus) {
        eventLoop.preconditionInEventLoop()
        guard !isFinished else { return }
        isFinished = true
        var trailers: HPACKHeaders
        if sentHeaders {
            trailers = HPACKHeaders()
        } else {
            trailers = GRPCServerCall.responseHeaders
            sentHeaders = true
        }
        trailers.add(name: "grpc-status", value: String(status.code.rawValue))
        if !status.message.isEmpty {
            trailers.add(name: "grpc-message", value: GRPCMessageEncoding.encode(status.message))
        }
        channel.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: trailers, endStream: true)), promise: nil)
    }

    static let responseHeaders: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]

    private func writeResponseHeadersIfNeeded() {
        guard !sentHeaders else { return }
        sentHeaders = true
        channel.write(HTTP2Frame.FramePayload.headers(.init(headers: GRPCServerCall.responseHeaders)), promise: nil)
    }
}
