import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy that can go silent: once `blackhole()` is called it drops every byte in
/// both directions without closing anything, which is what a peer that vanished (power loss,
/// cable pulled) looks like to the server. No FIN, no RST, just silence.
final class BlackholeProxy: Sendable {
    private let dropping = Atomic<Bool>(false)
    private let listener: Channel
    let port: Int

    private init(listener: Channel, dropping: Bool) {
        self.listener = listener
        self.port = listener.localAddress!.port!
    }

    static func start(to targetPort: Int, group: EventLoopGroup) async throws -> BlackholeProxy {
        let gate = Gate()
        let listener = try await ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                let upstream = ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                return upstream.flatMap { outbound in
                    let toServer = ForwardHandler(peer: outbound, gate: gate)
                    let toClient = ForwardHandler(peer: inbound, gate: gate)
                    return inbound.pipeline.addHandler(toServer).flatMap {
                        outbound.pipeline.addHandler(toClient)
                    }.map {
                        inbound.read()
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = BlackholeProxy(listener: listener, dropping: false)
        gate.proxy.withLock { $0 = proxy }
        return proxy
    }

    var isDropping: Bool { dropping.load(ordering: .relaxed) }

    func blackhole() {
        dropping.store(true, ordering: .relaxed)
    }

    func stop() async {
        try? await listener.close()
    }
}

/// Lets handlers created before the proxy object exists ask whether to drop.
private final class Gate: Sendable {
    let proxy = Mutex<BlackholeProxy?>(nil)
    var dropping: Bool { proxy.withLock { $0?.isDropping ?? false } }
}

private final class ForwardHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let peer: Channel
    private let gate: Gate

    init(peer: Channel, gate: Gate) {
        self.peer = peer
        self.gate = gate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !gate.dropping {
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }
        context.read()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A real vanished peer sends nothing; while blackholed, keep the other side open too.
        if !gate.dropping { peer.close(promise: nil) }
        context.fireChannelInactive()
    }
}
