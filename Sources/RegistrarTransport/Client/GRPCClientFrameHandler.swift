import NIOCore
import NIOHPACK
import NIOHTTP2

/// The client end of every gRPC call on one connection: opens streams, sends request messages,
/// reassembles response messages and reports each call's final status from its trailers.
///
/// A call is a stream state in a dictionary rather than a child channel, so a unary call costs
/// no channel, pipeline or stream-creation promise. The handler keeps the inbound windows open
/// (`InboundWindow`), and flushes writes made during a read burst once, when the burst ends.
///
/// Threading: a channel handler on the connection channel; everything runs on its event loop.
final class GRPCClientFrameHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// Who hears about a stream's messages and its end.
    enum Consumer {
        case callbacks(onMessage: (ByteBuffer) -> Void, onClose: (GRPCStatus) -> Void)
        case unary(EventLoopPromise<ByteBuffer>)
    }

    private final class ClientStream {
        var consumer: Consumer
        var deframer: GRPCMessageDeframer
        var response: ByteBuffer?
        var sentEnd = false
        var deadlineTask: Scheduled<Void>?

        init(consumer: Consumer, maximumMessageSize: Int) {
            self.consumer = consumer
            self.deframer = GRPCMessageDeframer(maximumMessageSize: maximumMessageSize)
        }
    }

    private let maximumMessageSize: Int
    private var streams: [HTTP2StreamID: ClientStream] = [:]
    private var nextStreamID = HTTP2StreamID(1)
    private var context: ChannelHandlerContext?
    private var flushes = ReadBurstFlush()

    init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Opens a stream and sends its request headers. Returns `nil` (after telling the consumer)
    /// if the connection has closed. A call still open after `timeout` ends with
    /// DEADLINE_EXCEEDED and is reset. `flush: false` suits a caller that writes the request
    /// message at once (a unary call): headers and message then leave in one flush.
    func open(headers: HPACKHeaders, timeout: TimeAmount?, consumer: Consumer, flush: Bool) -> HTTP2StreamID? {
        guard let context else {
            Self.tell(consumer, GRPCStatus(.unavailable, "connection closed"), response: nil)
            return nil
        }
        let streamID = nextStreamID
        nextStreamID = nextStreamID.advanced(by: 2)
        let stream = ClientStream(consumer: consumer, maximumMessageSize: maximumMessageSize)
        streams[streamID] = stream
        if let timeout {
            stream.deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.finish(streamID, GRPCStatus(.deadlineExceeded, "no response within \(timeout)"), stream: .reset)
            }
        }
        let opened = context.eventLoop.makePromise(of: Void.self)
        opened.futureResult.assumeIsolated().whenFailure { [weak self] error in
            // For example after the server's GOAWAY: the stream was never created.
            self?.finish(streamID, GRPCStatus(.unavailable, "could not open a stream: \(error)"), stream: .gone)
        }
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers)))), promise: opened
        )
        if flushes.flushAfterWrite(flush: flush) { context.flush() }
        return streamID
    }

    /// Sends one message on `streamID`; `endStream` half-closes the call after it.
    func send(_ message: ByteBuffer, on streamID: HTTP2StreamID, endStream: Bool) {
        guard let context, let stream = streams[streamID], !stream.sentEnd else { return }
        stream.sentEnd = endStream
        let framed = GRPCFraming.frame(message, allocator: context.channel.allocator)
        write(.data(.init(data: .byteBuffer(framed), endStream: endStream)), on: streamID)
    }

    /// Half-closes a call: an empty DATA frame with END_STREAM.
    func halfClose(_ streamID: HTTP2StreamID) {
        guard let stream = streams[streamID], !stream.sentEnd else { return }
        stream.sentEnd = true
        write(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), on: streamID)
    }

    /// Abandons a call: RST_STREAM, and the consumer hears CANCELLED.
    func cancel(_ streamID: HTTP2StreamID) {
        finish(streamID, GRPCStatus(.cancelled, "cancelled by the client"), stream: .reset)
    }

    private func write(_ payload: HTTP2Frame.FramePayload, on streamID: HTTP2StreamID) {
        guard let context else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: payload)), promise: nil)
        if flushes.flushAfterWrite(flush: true) { context.flush() }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finishAll(GRPCStatus(.unavailable, "connection closed"))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushes.readStarted()
        let frame = unwrapInboundIn(data)
        guard let stream = streams[frame.streamID] else { return }
        switch frame.payload {
        case .headers(let headers):
            if let status = headers.headers.first(name: "grpc-status") {
                let message = headers.headers.first(name: "grpc-message").map(GRPCMessageEncoding.decode) ?? ""
                finish(
                    frame.streamID, GRPCStatus(GRPCStatus.Code(trailerValue: status), message),
                    stream: headers.endStream ? .endOurSide : .reset)
            } else if let code = headers.headers.first(name: ":status"), code != "200" {
                finish(frame.streamID, GRPCStatus(.unavailable, "HTTP status \(code)"), stream: .reset)
            } else if headers.endStream {
                finish(frame.streamID, GRPCStatus(.internal, "stream ended without grpc-status"), stream: .endOurSide)
            }
        case .data(let data):
            guard case .byteBuffer(let bytes) = data.data else { return }
            stream.deframer.append(bytes)
            do {
                while let message = try stream.deframer.nextMessage() {
                    switch stream.consumer {
                    case .callbacks(let onMessage, _): onMessage(message)
                    case .unary: stream.response = message
                    }
                }
            } catch {
                finish(frame.streamID, GRPCStatus(.resourceExhausted, "bad response framing: \(error)"), stream: .reset)
                return
            }
            if data.endStream {
                finish(frame.streamID, GRPCStatus(.internal, "stream ended without trailers"), stream: .endOurSide)
            }
        case .rstStream(let code):
            finish(frame.streamID, GRPCStatus(.unavailable, "stream reset by server (\(code))"), stream: .gone)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flushes.flushAtReadComplete() { context.flush() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let event as NIOHTTP2WindowUpdatedEvent:
            if let update = InboundWindow.update(for: event) { write(update.payload, on: update.streamID) }
        case let event as StreamClosedEvent:
            let reason = event.reason.map { " (\($0))" } ?? ""
            finish(event.streamID, GRPCStatus(.unavailable, "stream closed\(reason)"), stream: .gone)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finishAll(GRPCStatus(.unavailable, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Stream errors end in a StreamClosedEvent; connection errors close the connection,
        // and channelInactive ends every call.
    }

    /// What ending a call does to its HTTP/2 stream.
    enum StreamEnding {
        /// RST_STREAM: we abandon it.
        case reset
        /// The server closed its side; close ours cleanly too, if still open, so the stream
        /// does not linger half-open (servers rate-limit RST_STREAM: rapid-reset protection).
        case endOurSide
        /// The stream is already gone.
        case gone
    }

    /// Ends a call once: tells its consumer and does `ending` to the stream.
    func finish(_ streamID: HTTP2StreamID, _ status: GRPCStatus, stream ending: StreamEnding) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        stream.deadlineTask?.cancel()
        switch ending {
        case .reset: write(.rstStream(.cancel), on: streamID)
        case .endOurSide where !stream.sentEnd:
            write(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), on: streamID)
        case .endOurSide, .gone: break
        }
        Self.tell(stream.consumer, status, response: stream.response)
    }

    private func finishAll(_ status: GRPCStatus) {
        let open = streams
        streams.removeAll()
        for stream in open.values {
            stream.deadlineTask?.cancel()
            Self.tell(stream.consumer, status, response: stream.response)
        }
    }

    private static func tell(_ consumer: Consumer, _ status: GRPCStatus, response: ByteBuffer?) {
        switch consumer {
        case .callbacks(_, let onClose):
            onClose(status)
        case .unary(let promise):
            if status.code == .ok, let response {
                promise.succeed(response)
            } else if status.code == .ok {
                promise.fail(GRPCStatus(.internal, "unary call ended without a response message"))
            } else {
                promise.fail(status)
            }
        }
    }
}
