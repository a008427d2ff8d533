import NIOCore
import NIOHTTP2

/// Server keepalive: when nothing has been read from a connection for `interval`, it sends an
/// HTTP/2 PING; when a further `timeout` passes with nothing read (no PING ACK, no frame at
/// all), the peer is taken to be gone and the connection is closed. This is how a half-open
/// connection (a peer that vanished without a FIN) is noticed.
///
/// It sits in front of the HTTP/2 handler and watches raw bytes, so any traffic counts as life.
/// Client PINGs are answered by the HTTP/2 handler itself and are never refused, whatever their rate.
///
/// Its checks are driven by the loop's shared `KeepaliveClock`, not by a timer of its own.
///
/// Threading: a channel handler; runs on the connection's event loop.
final class KeepaliveHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: KeepaliveClock
    private var lastRead = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var context: ChannelHandlerContext?

    init(clock: KeepaliveClock) {
        self.clock = clock
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        pingSentAt = nil
        context.fireChannelRead(data)
    }

    private func start(context: ChannelHandlerContext) {
        guard self.context == nil else { return }
        self.context = context
        lastRead = .now()
        clock.add(self)
    }

    private func stop() {
        guard context != nil else { return }
        context = nil
        clock.remove(self)
    }

    /// Called by the clock on the connection's event loop.
    func check(now: NIODeadline) {
        guard let context else { return }
        if let pingSentAt {
            if now - pingSentAt >= clock.timeout {
                stop()
                context.close(promise: nil)
            }
        } else if now - lastRead >= clock.interval {
            pingSentAt = now
            let ping = HTTP2Frame(
                streamID: .rootStream,
                payload: .ping(HTTP2PingData(withInteger: UInt64(now.uptimeNanoseconds)), ack: false))
            // Written from the tail so that it passes through the HTTP/2 handler behind us.
            context.channel.writeAndFlush(ping, promise: nil)
        }
    }
}
