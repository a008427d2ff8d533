import NIOCore
import NIOHPACK
import NIOHTTP2

/// Turns one HTTP/2 stream into a gRPC call: checks the request headers, applies `grpc-timeout`,
/// reassembles length-prefixed messages and hands them to the application's call handler.
///
/// Threading: a channel handler on a child stream channel; everything runs on the connection's loop.
final class GRPCServerStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let router: any GRPCServerConnectionHandler
    private var deframer: GRPCMessageDeframer
    private var call: GRPCServerCall?
    private var callHandler: (any GRPCServerCallHandler)?
    private var deadlineTask: Scheduled<Void>?

    init(router: any GRPCServerConnectionHandler, maximumMessageSize: Int) {
        self.router = router
        self.deframer = GRPCMessageDeframer(maximumMessageSize: maximumMessageSize)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if call == nil {
                receivedRequestHeaders(headers.headers, endStream: headers.endStream, context: context)
            } else if headers.endStream {
                // Request trailers: nothing in them matters to us.
                inboundFinished()
            }
        case .data(let data):
            guard call != nil, case .byteBuffer(let bytes) = data.data else { return }
            deframer.append(bytes)
            deliverMessages()
            if data.endStream { inboundFinished() }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlineTask?.cancel()
        if let call, let callHandler {
            self.callHandler = nil
            callHandler.closed(call)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A stream error (for example RST_STREAM from the peer): the stream closes, and
        // channelInactive tells the call handler.
        context.close(promise: nil)
    }

    private func receivedRequestHeaders(_ headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        let path = headers.first(name: ":path") ?? ""
        let timeoutHeader = headers.first(name: "grpc-timeout")
        let timeout = timeoutHeader.flatMap(GRPCTimeout.parse)
        let call = GRPCServerCall(path: path, headers: headers, deadline: timeout.map { .now() + $0 }, channel: context.channel)
        self.call = call
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
            return call.finish(GRPCStatus(.unimplemented, "grpc-encoding '\(encoding)' is not supported; send uncompressed messages"))
        }
        guard let handler = router.handler(forPath: path, call: call) else {
            return call.finish(GRPCStatus(.unimplemented, "method \(path) is not implemented"))
        }
        callHandler = handler
        if let deadline = call.deadline {
            deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
                self?.deadlineExpired()
            }
        }
        if endStream { inboundFinished() }
    }

    private func deliverMessages() {
        guard let call else { return }
        while let handler = callHandler, !call.isFinished {
            let message: ByteBuffer?
            do {
                message = try deframer.nextMessage()
            } catch {
                callHandler = nil
                switch error {
                case .messageTooLarge(let size, let limit):
                    call.finish(GRPCStatus(.resourceExhausted, "message of \(size) bytes exceeds the limit of \(limit) bytes"))
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

    private func inboundFinished() {
        guard let call, let handler = callHandler, !call.isFinished else { return }
        if deframer.hasPartialMessage {
            callHandler = nil
            call.finish(GRPCStatus(.internal, "stream ended inside a message"))
            handler.closed(call)
            return
        }
        handler.inboundFinished(on: call)
    }

    private func deadlineExpired() {
        guard let call, !call.isFinished else { return }
        call.finish(GRPCStatus(.deadlineExceeded, "deadline exceeded"))
        if let handler = callHandler {
            callHandler = nil
            handler.closed(call)
        }
    }
}
