import NIOCore
import NIOSSL

/// Lets one port take TLS and plaintext (for a migration): the first byte of a TLS connection
/// is a handshake record (0x16), which no HTTP/1 request or HTTP/2 preface starts with. On the
/// first read this handler puts a TLS server handler behind itself if it sees one, passes the
/// bytes on, and leaves the pipeline.
///
/// A protocol whose server speaks first (HTTP/2 sends its SETTINGS on connect) must not be in
/// the pipeline before the decision, or that first frame would leave in plaintext: `install`
/// adds such handlers behind the TLS handler once the choice is made.
///
/// Threading: confined to its channel's event loop.
public final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private static let handshakeRecord: UInt8 = 0x16
    private let tls: NIOSSLContext
    private let install: (ChannelPipeline.SynchronousOperations) throws -> Void
    private var decided = false

    public init(
        tls: NIOSSLContext, install: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void = { _ in }
    ) {
        self.tls = tls
        self.install = install
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return context.fireChannelRead(data) }
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.readableBytesView.first else { return }
        decided = true
        do {
            let sync = context.pipeline.syncOperations
            if first == Self.handshakeRecord {
                try sync.addHandler(NIOSSLServerHandler(context: tls), position: .after(self))
            }
            try install(sync)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
