import NIOCore

/// Copies each small read into a buffer of its own size before the HTTP/2 parser sees it.
///
/// Why: NIO reads into a pooled buffer of a few KiB per connection and reuses it only while
/// nobody else holds it. The HTTP/2 frame parser keeps a slice of the last read between frames,
/// which pins that buffer, so every connection ends up with a second and third buffer of the
/// same size. With 10k mostly idle SDK connections that was about 8 KiB each; a copy of a
/// handful of bytes per read is far cheaper. Only large reads that fill most of their buffer go
/// through untouched: copying them would cost more than the buffer it saves.
///
/// Threading: a channel handler; runs on its connection's event loop.
final class ReadCompactor: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Reads up to this size are copied even when they fill their buffer (an SDK request is a
    /// few hundred bytes).
    static let alwaysCopied = 4096

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard bytes.readableBytes <= Self.alwaysCopied || bytes.readableBytes * 2 < bytes.capacity else {
            context.fireChannelRead(data)
            return
        }
        var copy = context.channel.allocator.buffer(capacity: bytes.readableBytes)
        copy.writeImmutableBuffer(bytes)
        context.fireChannelRead(wrapInboundOut(copy))
    }
}
