import CompressNIO
import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarCore
import RegistrarWire
import Synchronization

/// v1 UDP push: 1.x Java, Go and C clients subscribe through `/instance/list?udpPort=&clientIP=`
/// and get each change as a datagram, which they ack from the same socket.
///
/// Packets are `{"type":"dom","data":"<ServiceInfo JSON>","lastRefTime":<ack key>}`, gzipped
/// when 1 KiB or more. An unacked packet is sent once more after `resendDelay`, then dropped;
/// a newer packet for the same subscriber and service replaces an unacked older one.
///
/// Threading: thread-safe. The socket's reads and resend timers run on its event loop.
final class UDPPushService: DatagramPush {
    /// Packets at or above this size are gzipped, as Nacos does.
    static let compressionThreshold = 1024
    /// The largest UDP payload; a bigger push is not sent (the client keeps polling).
    static let maximumDatagram = 65_507

    private struct Pending {
        var subscription: String
        var packet: ByteBuffer
        var target: SocketAddress
        var resend: Scheduled<Void>?
    }

    private struct State {
        /// Unacked packets by ack key (`ip:port#lastRefTime`).
        var pending: [String: Pending] = [:]
        /// The unacked packet of each subscriber and service (`client|service`).
        var latest: [String: String] = [:]
    }

    private let channel: any Channel
    private let resendDelay: TimeAmount
    private let counters: PushCounters
    private let logger: Logger
    private let state = Mutex(State())
    private let nextAckKey: Atomic<Int64>

    private init(channel: any Channel, resendDelay: TimeAmount, counters: PushCounters, logger: Logger) {
        self.channel = channel
        self.resendDelay = resendDelay
        self.counters = counters
        self.logger = logger
        // Unique and increasing for this process, like Nacos's System.nanoTime() keys.
        self.nextAckKey = Atomic(Int64(NIODeadline.now().uptimeNanoseconds))
    }

    /// Binds the push socket on `host`:`port` (0 picks a free port).
    static func start(
        host: String, port: Int, group: any EventLoopGroup, resendDelay: TimeAmount, counters: PushCounters,
        logger: Logger
    ) async throws -> UDPPushService {
        let box = Mutex<UDPPushService?>(nil)
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AckHandler { envelope in
                            box.withLock { $0 }?.received(envelope)
                        })
                }
            }
            .bind(host: host, port: port).get()
        let service = UDPPushService(channel: channel, resendDelay: resendDelay, counters: counters, logger: logger)
        box.withLock { $0 = service }
        return service
    }

    var localAddress: SocketAddress? { channel.localAddress }

    func stop() async {
        let timers = state.withLock { state -> [Scheduled<Void>] in
            defer { state = State() }
            return state.pending.values.compactMap(\.resend)
        }
        for timer in timers { timer.cancel() }
        try? await channel.close()
    }

    /// Sends `serviceInfo` (v1-style JSON) to the subscriber `client` (`ip:udpPort#true`).
    func push(to client: ClientID, service: ServiceKey, serviceInfo: [UInt8]) {
        guard let (ip, port, _) = IPPortClientID.parse(client),
            let target = try? SocketAddress(ipAddress: ip, port: port)
        else {
            logger.debug("no UDP address in subscriber id \(client)")
            return
        }
        let ackKeyValue = nextAckKey.add(1, ordering: .relaxed).newValue
        var packet = ByteBuffer(bytes: V1JSON.udpPush(serviceInfo: serviceInfo, ackKey: ackKeyValue))
        if packet.readableBytes >= UDPPushService.compressionThreshold {
            do {
                packet = try packet.compress(with: .gzip())
            } catch {
                logger.warning("could not gzip a UDP push for \(service): \(error)")
                return
            }
        }
        guard packet.readableBytes <= UDPPushService.maximumDatagram else {
            logger.warning(
                "UDP push of \(service) to \(client) skipped: \(packet.readableBytes) bytes is over the datagram limit; the client keeps polling"
            )
            return
        }
        let ackKey = UDPPushService.ackKey(ip: ip, port: port, lastRefTime: String(ackKeyValue))
        let subscription = "\(client)|\(service)"
        // The timer only finds the packet if it is still unacked by then.
        let resend = channel.eventLoop.scheduleTask(in: resendDelay) { [self] in
            resendOnce(ackKey)
        }
        let superseded = state.withLock { state -> Scheduled<Void>? in
            let old = state.latest[subscription].flatMap { state.pending.removeValue(forKey: $0)?.resend }
            state.latest[subscription] = ackKey
            state.pending[ackKey] = Pending(subscription: subscription, packet: packet, target: target, resend: resend)
            return old
        }
        superseded?.cancel()
        send(packet, to: target)
    }

    private func resendOnce(_ ackKey: String) {
        let pending = state.withLock { state -> Pending? in
            guard let pending = state.pending.removeValue(forKey: ackKey) else { return nil }
            if state.latest[pending.subscription] == ackKey { state.latest.removeValue(forKey: pending.subscription) }
            return pending
        }
        guard let pending else { return }
        counters.udpResends.add(1)
        logger.debug("UDP push to \(pending.target) not acked; sending it once more")
        send(pending.packet, to: pending.target)
    }

    private func send(_ packet: ByteBuffer, to target: SocketAddress) {
        counters.udpSent.add(1)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: packet), promise: nil)
    }

    private static func ackKey(ip: String, port: Int, lastRefTime: String) -> String {
        "\(ip):\(port)#\(lastRefTime)"
    }

    /// An ack: `{"type":"push-ack","lastRefTime":"<key>","data":""}` from the pushed address.
    private func received(_ envelope: AddressedEnvelope<ByteBuffer>) {
        guard let ack = try? JSONDecoder().decode(Ack.self, from: envelope.data),
            let lastRefTime = ack.lastRefTime?.value,
            let ip = envelope.remoteAddress.ipAddress, let port = envelope.remoteAddress.port
        else {
            logger.debug("ignored a datagram from \(envelope.remoteAddress) that is not a push ack")
            return
        }
        let key = UDPPushService.ackKey(ip: ip, port: port, lastRefTime: lastRefTime)
        let resend = state.withLock { state -> Scheduled<Void>?? in
            guard let pending = state.pending.removeValue(forKey: key) else { return nil }
            if state.latest[pending.subscription] == key { state.latest.removeValue(forKey: pending.subscription) }
            return .some(pending.resend)
        }
        guard let resend else { return }
        resend?.cancel()
        counters.udpAcks.add(1)
    }

    private struct Ack: Decodable {
        var type: String?
        var lastRefTime: LooseString?
    }
}

/// Hands each datagram to the push service.
private final class AckHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let onDatagram: @Sendable (AddressedEnvelope<ByteBuffer>) -> Void

    init(onDatagram: @escaping @Sendable (AddressedEnvelope<ByteBuffer>) -> Void) {
        self.onDatagram = onDatagram
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onDatagram(unwrapInboundIn(data))
    }
}
