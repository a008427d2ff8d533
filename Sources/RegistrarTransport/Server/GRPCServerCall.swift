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
    /// When the client's `grpc-timeout` runs out, if it sent one.
    public let deadline: NIODeadline?
    public let eventLoop: EventLoop

    let streamID: HTTP2StreamID
    /// The connection's frame handler; every write goes through it.
    private let connection: GRPCServerFrameHandler
    private var sentHeaders = false
    public private(set) var isFinished = false

    // Per-stream state kept by the frame handler.
    var handler: (any GRPCServerCallHandler)?
    var deframer: GRPCMessageDeframer
    var deadlineTask: Scheduled<Void>?
    /// Bytes the peer's flow-control window still lets us send on this stream.
    var outboundWindow: Int

    init(
        streamID: HTTP2StreamID,
        path: String,
        deadline: NIODeadline?,
        connection: GRPCServerFrameHandler,
        eventLoop: EventLoop,
        maximumMessageSize: Int,
        outboundWindow: Int
    ) {
        self.streamID = streamID
        self.path = path
        self.deadline = deadline
        self.connection = connection
        self.eventLoop = eventLoop
        self.deframer = GRPCMessageDeframer(maximumMessageSize: maximumMessageSize)
        self.outboundWindow = outboundWindow
    }

    /// Whether the stream can take more bytes without queuing past its flow-control window.
    public var isWritable: Bool { outboundWindow > 0 && connection.isWritable }

    /// Sends one response message. Ignored once the call is finished.
    ///
    /// `flush: false` leaves the bytes for the next flush: `finish`, a later `send`, or the
    /// end of the connection's current read burst.
    public func send(_ message: ByteBuffer, flush: Bool = true) {
        eventLoop.preconditionInEventLoop()
        guard !isFinished else { return }
        writeResponseHeadersIfNeeded()
        let framed = GRPCFraming.frame(message, allocator: connection.allocator)
        outboundWindow -= framed.readableBytes
        connection.write(.data(.init(data: .byteBuffer(framed))), on: streamID, flush: flush)
    }

    /// Ends the call with `status`: trailers after a response, or a trailers-only response.
    public func finish(_ status: GRPCStatus) {
        eventLoop.preconditionInEventLoop()
        guard !isFinished else { return }
        isFinished = true
        deadlineTask?.cancel()
        deadlineTask = nil
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
        connection.write(.headers(.init(headers: trailers, endStream: true)), on: streamID, flush: true)
    }

    static let responseHeaders: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]

    private func writeResponseHeadersIfNeeded() {
        guard !sentHeaders else { return }
        sentHeaders = true
        connection.write(.headers(.init(headers: GRPCServerCall.responseHeaders)), on: streamID, flush: false)
    }
}
