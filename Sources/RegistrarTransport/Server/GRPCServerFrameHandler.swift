import NIOCore
import NIOHPACK
import NIOHTTP2

/// Turns the HTTP/2 frames of one connection into gRPC calls: checks each stream's request
/// headers, applies `grpc-timeout`, reassembles length-prefixed messages and hands them to the
/// application's call handlers.
///
/// There is no child channel per stream: a stream is a `GRPCServerCall` in a dictionary, so a
/// unary call costs no channel, pipeline or promise of its own. In exchange this handler keeps the
/// inbound flow-control windows open (`InboundWindow`) and tracks each stream's outbound window.
/// Writes made while the connection is reading are flushed once, when the read burst ends.
///
/// Threading: a channel handler on the connection channel; everything runs on its event loop.
final class GRPCServerFrameHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let router: any GRPCServerConnectionHandler
    private let maximumMessageSize: Int
    private var calls: [HTTP2StreamID: GRPCServerCall] = [:]
    private var context: ChannelHandlerContext?
    private var flushes = ReadBurstFlush()
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE as NIO reports it when a stream opens.
    private var initialOutboundWindow = InboundWindow.target

    init(router: any GRPCServerConnectionHandler, maximumMessageSize: Int) {
        self.router = router
        self.maximumMessageSize = maximumMessageSize
    }

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Writes one frame of a call; `flush` asks for it to go out now, or at the end of the read
    /// burst if one is under way.
    func write(_ payload: HTTP2Frame.FramePayload, on streamID: HTTP2StreamID, flush: Bool) {
        guard let context else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: payload)), promise: nil)
        if flushes.flushAfterWrite(flush: flush) { context.flush() }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeAll()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushes.readStarted()
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if let call = calls[frame.streamID] {
                // Request trailers: nothing in them matters to us.
                if headers.endStream { inboundFinished(call) }
            } else {
                receivedRequestHeaders(
                    headers.headers, endStream: headers.endStream, streamID: frame.streamID, context: context)
            }
        case .data(let data):
            guard let call = calls[frame.streamID], case .byteBuffer(let bytes) = data.data else { return }
            call.deframer.append(bytes)
            deliverMessages(call)
            if data.endStream { inboundFinished(call) }
        default:
            // SETTINGS, PING, GOAWAY, WINDOW_UPDATE are NIOHTTP2Handler's; RST_STREAM arrives as
            // a StreamClosedEvent too.
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
            if let update = InboundWindow.update(for: event) {
                write(update.payload, on: update.streamID, flush: true)
            }
            if let outbound = event.outboundWindowSize, let call = calls[event.streamID] {
                call.outboundWindow = outbound
            }
        case let event as NIOHTTP2StreamCreatedEvent:
            if let window = event.localInitialWindowSize {
                initialOutboundWindow = Int(window)
                calls[event.streamID]?.outboundWindow = Int(window)
            }
        case let event as StreamClosedEvent:
            if let call = calls.removeValue(forKey: event.streamID) { closed(call) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Stream errors end in a StreamClosedEvent; connection errors make NIOHTTP2Handler send
        // GOAWAY and close, which ends every call through channelInactive.
    }

    private func closeAll() {
        let open = calls.values
        calls.removeAll()
        for call in open { closed(call) }
    }

    private func closed(_ call: GRPCServerCall) {
        call.deadlineTask?.cancel()
        call.deadlineTask = nil
        if let handler = call.handler {
            call.handler = nil
            handler.closed(call)
        }
    }

    private func receivedRequestHeaders(
        _ headers: HPACKHeaders, endStream: Bool, streamID: HTTP2StreamID, context: ChannelHandlerContext
    ) {
        let path = headers.first(name: ":path") ?? ""
        let timeoutHeader = headers.first(name: "grpc-timeout")
        let timeout = timeoutHeader.flatMap(GRPCTimeout.parse)
        let call = GRPCServerCall(
            streamID: streamID, path: path, deadline: timeout.map { context.eventLoop.now + $0 },
            connection: self, eventLoop: context.eventLoop,
            maximumMessageSize: maximumMessageSize, outboundWindow: initialOutboundWindow
        )
        calls[streamID] = call
        if let timeoutHeader, timeout == nil {
            return call.finish(GRPCStatus(.invalidArgument, "malformed grpc-timeout '\(timeoutHeader)'"))
        }
        if headers.first(name: ":method") != "POST" {
            return call.finish(GRPCStatus(.unimplemented, "gRPC requires POST"))
        }
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            return call.finish(GRPCStatus(.invalidArgument, "content-type must be application/grpc"))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return call.finish(
                GRPCStatus(.unimplemented, "grpc-encoding '\(encoding)' is not supported; send uncompressed messages"))
        }
        guard let handler = router.handler(forPath: path, call: call) else {
            return call.finish(GRPCStatus(.unimplemented, "method \(path) is not implemented"))
        }
        call.handler = handler
        if let deadline = call.deadline {
            call.deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                [weak self, weak call] in
                if let self, let call { self.deadlineExpired(call) }
            }
        }
        if endStream { inboundFinished(call) }
    }

    private func deliverMessages(_ call: GRPCServerCall) {
        while let handler = call.handler, !call.isFinished {
            let message: ByteBuffer?
            do {
                message = try call.deframer.nextMessage()
            } catch {
                call.handler = nil
                switch error {
                case .messageTooLarge(let size, let limit):
                    call.finish(
                        GRPCStatus(.resourceExhausted, "message of \(size) bytes exceeds the limit of \(limit) bytes"))
                case .compressedMessage:
                    call.finish(GRPCStatus(.unimplemented, "compressed messages are not supported"))
                }
                handler.closed(call)
                return
            }
            guard let message else { return }
            handler.received(message: message, on: call)
        }
    }

    private func inboundFinished(_ call: GRPCServerCall) {
        guard let handler = call.handler, !call.isFinished else { return }
        if call.deframer.hasPartialMessage {
            call.handler = nil
            call.finish(GRPCStatus(.internal, "stream ended inside a message"))
            handler.closed(call)
            return
        }
        handler.inboundFinished(on: call)
    }

    private func deadlineExpired(_ call: GRPCServerCall) {
        guard !call.isFinished else { return }
        call.finish(GRPCStatus(.deadlineExceeded, "deadline exceeded"))
        if let handler = call.handler {
            call.handler = nil
            handler.closed(call)
        }
    }
}
