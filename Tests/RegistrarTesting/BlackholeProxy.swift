import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy that can go silent: once `blackhole()` is called it drops every byte in
/// both directions without closing anything, which is what a peer that vanished (power loss,
/// cable pulled) looks like to the server. No FIN, no RST, just silence.
public final class BlackholeProxy: Sendable {
    private let dropping = Atomic<Bool>(false)
    private let listener: Channel
    public let port: Int

    private init(listener: Channel, dropping: Bool) {
        self.listener = listener
        self.port = listener.localAddress!.port!
    }

    public static func start(to targetPort: Int, group: EventLoopGroup) async throws -> BlackholeProxy {
        let gate = Gate()
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { inbound in
                inbound.eventLoop.makeCompletedFuture {
                    let clientSide = BufferingForwarder(gate: gate)
                    try inbound.pipeline.syncOperations.addHandler(clientSide)
                    ClientBootstrap(group: inbound.eventLoop)
                        .channelInitializer { outbound in
                            outbound.eventLoop.makeCompletedFuture {
                                let serverSide = BufferingForwarder(gate: gate)
                                try outbound.pipeline.syncOperations.addHandler(serverSide)
                                serverSide.connect(to: inbound)
                            }
                        }
                        .connect(host: "127.0.0.1", port: targetPort)
                        .assumeIsolated()
                        .whenComplete { result in
                            switch result {
                            case .success(let outbound): clientSide.connect(to: outbound)
                            case .failure: inbound.close(promise: nil)
                            }
                        }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = BlackholeProxy(listener: listener, dropping: false)
        gate.proxy.withLock { $0 = proxy }
        return proxy
    }

    public var isDropping: Bool { dropping.load(ordering: .relaxed) }

    public func blackhole() {
        dropping.store(true, ordering: .relaxed)
    }

    public func stop() async {
        try? await listener.close()
    }
}

/// Lets handlers created before the proxy object exists ask whether to drop.
private final class Gate: Sendable {
    public let proxy = Mutex<BlackholeProxy?>(nil)
    public var dropping: Bool { proxy.withLock { $0?.isDropping ?? false } }
}

/// Forwards bytes to its peer channel, holding them until the peer is connected; drops them
/// while the proxy is blackholed. Both sides of one proxied connection share an event loop.
private final class BufferingForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let gate: Gate
    private var peer: Channel?
    private var held: [ByteBuffer] = []

    public init(gate: Gate) {
        self.gate = gate
    }

    public func connect(to peer: Channel) {
        self.peer = peer
        for bytes in held { peer.write(bytes, promise: nil) }
        held.removeAll()
        peer.flush()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !gate.dropping else { return }
        let bytes = unwrapInboundIn(data)
        if let peer { peer.writeAndFlush(bytes, promise: nil) } else { held.append(bytes) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // A real vanished peer sends nothing; while blackholed, keep the other side open too.
        if !gate.dropping { peer?.close(promise: nil) }
        context.fireChannelInactive()
    }
}
