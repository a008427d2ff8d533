import NIOCore
import NIOEmbedded
import RegistrarTransport
import Synchronization
import Testing

@Suite("FirstReadDeadline on an embedded channel")
struct FirstReadDeadlineTests {
    final class Expiries: Sendable {
        let count = Atomic<Int>(0)
    }

    private func channel(_ expired: Expiries) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            FirstReadDeadline(timeout: .milliseconds(300)) { expired.count.add(1, ordering: .relaxed) })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aConnectionThatSendsNothingIsClosedAtTheDeadlineNotBefore() throws {
        let expired = Expiries()
        let channel = try channel(expired)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(299))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2))
        #expect(!channel.isActive)
        #expect(expired.count.load(ordering: .relaxed) == 1)
    }

    @Test func theFirstReadIsForwardedCancelsTheDeadlineAndTheHandlerLeaves() throws {
        let expired = Expiries()
        let channel = try channel(expired)
        try channel.writeInbound(ByteBuffer(string: "hello"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "hello"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(channel.isActive && expired.count.load(ordering: .relaxed) == 0)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: FirstReadDeadline.self) }
        _ = try channel.finish()
    }
}
