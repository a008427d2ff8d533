import NIOCore
import NIOHPACK
import NIOHTTP2

/// The client end of one gRPC call: sends the request headers, reassembles response messages,
/// and reports the final status from the trailers.
///
/// Threading: a channel handler on a child stream channel; callbacks run on the connection's loop.
final class GRPCClientStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let requestHeaders: HPACKHeaders
    private let onMessage: (ByteBuffer) -> Void
    private var onClose: ((GRPCStatus) -> Void)?
    private var deframer: GRPCMessageDeframer

    init(
        requestHeaders: HPACKHeaders,
        maximumMessageSize: Int,
        onMessage: @escaping (ByteBuffer) -> Void,
        onClose: @escaping (GRPCStatus) -> Void
    ) {
        self.requestHeaders = requestHeaders
        self.onMessage = onMessage
        self.onClose = onClose
        self.deframer = GRPCMessageDeframer(maximumMessageSize: maximumMessageSize)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: requestHeaders))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if let status = headers.headers.first(name: "grpc-status") {
                let message = headers.headers.first(name: "grpc-message").map(GRPCMessageEncoding.decode) ?? ""
                // The server ended the stream; closing our side too would send RST_STREAM, and
                // servers rate-limit those (HTTP/2 rapid-reset protection).
                finish(GRPCStatus(GRPCStatus.Code(trailerValue: status), message), context: context, reset: !headers.endStream)
            } else if let code = headers.headers.first(name: ":status"), code != "200" {
                finish(GRPCStatus(.unavailable, "HTTP status \(code)"), context: context)
            } else if headers.endStream {
                finish(GRPCStatus(.internal, "stream ended without grpc-status"), context: context)
            }
        case .data(let frame):
            guard case .byteBuffer(let bytes) = frame.data else { return }
            deframer.append(bytes)
            do {
                while let message = try deframer.nextMessage() { onMessage(message) }
            } catch {
                finish(GRPCStatus(.resourceExhausted, "bad response framing: \(error)"), context: context)
                return
            }
            if frame.endStream { finish(GRPCStatus(.internal, "stream ended without trailers"), context: context) }
        case .rstStream(let code):
            finish(GRPCStatus(.unavailable, "stream reset by server (\(code))"), context: context)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(GRPCStatus(.unavailable, "connection closed"), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(GRPCStatus(.unavailable, "stream error: \(error)"), context: context)
    }

    private func finish(_ status: GRPCStatus, context: ChannelHandlerContext, reset: Bool = true) {
        guard let onClose else { return }
        self.onClose = nil
        onClose(status)
        if reset { context.close(promise: nil) }
    }
}
