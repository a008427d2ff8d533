import NIOCore

/// Closes a connection that has not delivered its first message within `timeout`, then steps
/// out of the pipeline once one arrives. Placed after a protocol decoder, "first message" means
/// what that decoder produces first: behind `NIOHTTP2Handler` the client's SETTINGS (so the
/// connection preface is complete), behind an HTTP/1 decoder a request's head (so its headers
/// are complete). A client that trickles a byte at a time (slowloris) therefore cannot hold a
/// socket open past the deadline, however often it sends.
///
/// Threading: confined to its channel's event loop, like every handler.
public final class FirstReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = Any
    public typealias InboundOut = Any

    private let timeout: TimeAmount
    private let onExpiry: @Sendable () -> Void
    private var deadline: Scheduled<Void>?
    private var done = false

    /// `onExpiry` runs (on the loop) just before an expired connection is closed: a counter.
    public init(timeout: TimeAmount, onExpiry: @escaping @Sendable () -> Void = {}) {
        self.timeout = timeout
        self.onExpiry = onExpiry
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
        guard !done else { return }
        done = true
        deadline?.cancel()
        deadline = nil
        // After forwarding: a handler removed before it forwards loses the read.
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !done else { return }
        let onExpiry = onExpiry
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.done else { return }
            self.done = true
            onExpiry()
            context.close(promise: nil)
        }
    }
}
