import CompressNIO
import Foundation
import NIOCore
import NIOPosix
import RegistrarServer
import RegistrarTesting
import Synchronization
import Testing

/// A 1.x client's UDP side: a real socket on loopback that collects push packets and can ack them.
final class UDPPushListener: Sendable {
    struct Packet: Sendable {
        var type: String
        var lastRefTime: Int64
        var serviceInfo: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(dataJSON.utf8))) as? [String: Any] ?? [:]
        }
        var dataJSON: String
        var gzipped: Bool
        var from: SocketAddress
    }

    let channel: any Channel
    let packets: AsyncStream<Packet>

    init() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Packet.self)
        self.packets = stream
        channel = try await DatagramBootstrap(group: TestServer.group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { channel.localAddress!.port! }

    /// Waits (bounded) for the next packet; nil if none arrives in time.
    func next(within timeout: Duration = .seconds(5)) async -> Packet? {
        try? await withTimeout(timeout) { [packets] in
            var iterator = packets.makeAsyncIterator()
            return await iterator.next()
        }
    }

    func ack(_ packet: Packet) async throws {
        let json = #"{"type":"push-ack","lastRefTime":"\#(packet.lastRefTime)","data":""}"#
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: packet.from, data: ByteBuffer(string: json)))
    }

    func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let continuation: AsyncStream<Packet>.Continuation

        init(continuation: AsyncStream<Packet>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            var buffer = envelope.data
            let gzipped = buffer.getBytes(at: buffer.readerIndex, length: 2) == [0x1f, 0x8b]
            if gzipped, let inflated = try? buffer.decompress(with: .gzip()) { buffer = inflated }
            guard
                let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
            else { return }
            continuation.yield(
                Packet(
                    type: object["type"] as? String ?? "",
                    lastRefTime: (object["lastRefTime"] as? NSNumber)?.int64Value ?? -1,
                    dataJSON: object["data"] as? String ?? "", gzipped: gzipped, from: envelope.remoteAddress
                ))
        }
    }
}

@Suite("v1 UDP push", .stopsWhatItStarts)
struct UDPPushTests {
    static let javaClient = ["User-Agent": "Nacos-Java-Client:v1.4.8"]

    static func quickResend(_ configuration: inout ServerConfiguration) {
        configuration.udpPushResendDelay = .milliseconds(300)
    }

    @Test func subscriberReceivesPushesOnARealSocketAndAcksThem() async throws {
        // A resend delay long enough for an ack to land on a loaded machine: with 300 ms, CI saw
        // the resend go out before the ack arrived.
        let server = try await TestServer.start { $0.udpPushResendDelay = .milliseconds(1200) }
        let listener = try await UDPPushListener()
        tearDownAfterTest { await listener.close() }
        let subscribe: [(String, String)] = [("udpPort", String(listener.port)), ("clientIP", "127.0.0.1")]
        _ = try await server.http.list("udp-orders", subscribe, headers: Self.javaClient)

        // The first push comes right after subscribing.
        let first = try #require(await listener.next())
        #expect(first.type == "dom")
        #expect(first.serviceInfo["name"] as? String == "DEFAULT_GROUP@@udp-orders")
        try await listener.ack(first)
        // The ack is a datagram: let it land before the next change, or that change's push
        // supersedes the first packet and the late ack rightly matches nothing.
        #expect(
            try await eventually {
                try await server.http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")]).object[
                    "udpPushAcks"] as? Int == 1
            })

        try await server.http.register("udp-orders", ip: "10.5.0.1", port: 80)
        let change = try #require(await listener.next())
        let hosts = change.serviceInfo["hosts"] as? [[String: Any]]
        #expect(hosts?.first?["ip"] as? String == "10.5.0.1")
        #expect(change.lastRefTime > first.lastRefTime)
        try await listener.ack(change)
        #expect(
            try await eventually {
                try await server.http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")]).object[
                    "udpPushAcks"] as? Int == 2
            })

        // Acked packets are not sent again, well past the resend delay.
        #expect(await listener.next(within: .milliseconds(1800)) == nil)
        let metrics = try await server.http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")])
            .object
        #expect(metrics["udpPushAcks"] as? Int == 2)
        #expect(metrics["udpPushResends"] as? Int == 0)
    }

    @Test func unackedPushIsResentExactlyOnce() async throws {
        let server = try await TestServer.start(Self.quickResend)
        let listener = try await UDPPushListener()
        tearDownAfterTest { await listener.close() }
        _ = try await server.http.list(
            "udp-lossy", [("udpPort", String(listener.port)), ("clientIP", "127.0.0.1")], headers: Self.javaClient)
        let first = try #require(await listener.next())
        let resent = try #require(await listener.next(within: .seconds(3)))
        #expect(resent.lastRefTime == first.lastRefTime)
        #expect(await listener.next(within: .seconds(1)) == nil)
    }

    @Test func largePushesAreGzipped() async throws {
        let server = try await TestServer.start()
        let listener = try await UDPPushListener()
        tearDownAfterTest { await listener.close() }
        for index in 1...8 {
            try await server.http.register(
                "udp-big", ip: "10.5.1.\(index)", port: 8080,
                [("metadata", #"{"description":"a fairly long metadata value"}"#)])
        }
        _ = try await server.http.list(
            "udp-big", [("udpPort", String(listener.port)), ("clientIP", "127.0.0.1")], headers: Self.javaClient)
        let packet = try #require(await listener.next())
        #expect(packet.gzipped)
        #expect((packet.serviceInfo["hosts"] as? [[String: Any]])?.count == 8)
    }

    @Test func pollingClientsAreNotSubscribed() async throws {
        let server = try await TestServer.start()
        let listener = try await UDPPushListener()
        tearDownAfterTest { await listener.close() }
        _ = try await server.http.list(
            "udp-python", [("udpPort", String(listener.port)), ("clientIP", "127.0.0.1")],
            headers: ["User-Agent": "Nacos-Python-Client:v0.1.16"])
        try await server.http.register("udp-python", ip: "10.5.2.1", port: 80)
        #expect(await listener.next(within: .milliseconds(800)) == nil)
    }
}
