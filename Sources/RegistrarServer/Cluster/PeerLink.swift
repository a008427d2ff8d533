import Foundation
import Logging
import NIOCore
import RegistrarCore
import RegistrarTransport
import RegistrarWire
import Synchronization

/// This node's side of one peer: a lazily (re)connected gRPC connection to the peer's cluster
/// port, and the peer's own queue of clients to send. Each peer has its own queue and its own
/// backoff, so a dead or slow peer never holds up the others.
///
/// Threading: thread-safe.
final class PeerLink: Sendable {
    /// What is owed to the peer for one client: its current state, or its deletion.
    enum Owed: Sendable, Equatable {
        case current
        case deleted(revision: UInt64)
    }

    private struct Queue: Sendable {
        var owed: [ClientID: Owed] = [:]
        var sending = false
        var failures = 0
        var retryAt: NIODeadline = .uptimeNanoseconds(0)
    }

    let address: MemberAddress
    private let me: MemberAddress
    private let secret: String
    private let configuration: ClusterConfiguration
    private let group: EventLoopGroup
    private let connection = Mutex<GRPCClientConnection?>(nil)
    private let queue = Mutex(Queue())

    init(
        address: MemberAddress, me: MemberAddress, secret: String, configuration: ClusterConfiguration,
        group: EventLoopGroup
    ) {
        self.address = address
        self.me = me
        self.secret = secret
        self.configuration = configuration
        self.group = group
    }

    // MARK: Calls

    private func connected() async throws -> GRPCClientConnection {
        if let open = connection.withLock({ $0 }), open.channel.isActive { return open }
        let fresh = try await GRPCClientConnection.connect(
            host: address.host, port: address.port + 1001, group: group,
            connectTimeout: configuration.probeTimeout, maximumMessageSize: configuration.maximumInflatedSize,
            tls: configuration.peerTLSContexts?.client
        )
        // Another call may have connected meanwhile: keep the live connection, never close one in use.
        let winner = connection.withLock { current -> GRPCClientConnection in
            if let current, current.channel.isActive { return current }
            current = fresh
            return fresh
        }
        if winner !== fresh { await fresh.close() }
        return winner
    }

    /// One unary call to the peer. Throws on transport errors and non-OK statuses.
    func call(type: String, body: [UInt8], headers: [String: String] = [:], timeout: TimeAmount? = nil) async throws
        -> WireMessage
    {
        let request = ClusterWire.envelope(
            type: type, body: body, from: me, secret: secret, headers: headers)
        let connection = try await connected()
        let response = try await connection.unary(
            path: ClusterWire.callPath, request: request, timeout: timeout ?? configuration.requestTimeout
        ).get()
        return try PayloadCodec.decode(Array(response.readableBytesView))
    }

    /// Opens the peer's snapshot stream; each chunk (a Payload) arrives in order on the stream.
    func snapshotStream() async throws -> AsyncThrowingStream<ByteBuffer, Error> {
        let connection = try await connected()
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, Error>.makeStream()
        let call = try await connection.openCall(
            path: ClusterWire.snapshotPath, timeout: configuration.snapshotTimeout,
            onMessage: { continuation.yield($0) },
            onClose: { status in
                if status.code == .ok { continuation.finish() } else { continuation.finish(throwing: status) }
            }
        ).get()
        continuation.onTermination = { termination in
            if case .cancelled = termination { call.cancel() }
        }
        call.send(
            ClusterWire.envelope(
                type: ClusterWire.MessageType.snapshot, body: [], from: me, secret: secret),
            endStream: true)
        return stream
    }

    func close() async {
        if let open = connection.withLock({ $0.take() }) { await open.close() }
    }

    // MARK: The sync queue

    /// Notes that the peer is owed these clients; a later note for a client replaces an earlier one.
    func owe(_ clients: [ClientID: Owed]) {
        guard !clients.isEmpty else { return }
        queue.withLock { $0.owed.merge(clients) { _, newer in newer } }
    }

    /// Forgets what is owed (the peer is DOWN): retries stop there. When the peer comes back,
    /// verify (or its snapshot, if it restarted) brings it up to date, and leases clear what
    /// it should have deleted. Returns how many clients were dropped.
    func forgetOwed() -> Int {
        queue.withLock { queue in
            defer { queue.owed = [:] }
            return queue.owed.count
        }
    }

    /// Takes up to `limit` owed clients if a send may start now (none is in flight, and any
    /// backoff has passed); the caller must then call `finishSend`.
    func beginSend(limit: Int, now: NIODeadline) -> [ClientID: Owed]? {
        queue.withLock { queue in
            guard !queue.sending, !queue.owed.isEmpty, now >= queue.retryAt else { return nil }
            queue.sending = true
            var taken: [ClientID: Owed] = [:]
            for (client, owed) in queue.owed.prefix(limit) { taken[client] = owed }
            for client in taken.keys { queue.owed.removeValue(forKey: client) }
            return taken
        }
    }

    /// Ends a send. On failure the clients are owed again (unless something newer is owed by
    /// now) and the next attempt waits, doubling per failure up to the maximum delay.
    func finishSend(_ taken: [ClientID: Owed], succeeded: Bool, now: NIODeadline) {
        queue.withLock { queue in
            queue.sending = false
            if succeeded {
                queue.failures = 0
                queue.retryAt = now
                return
            }
            queue.owed.merge(taken) { newer, _ in newer }
            queue.failures += 1
            let base = configuration.retryDelay.nanoseconds
            let delay = min(base << min(queue.failures - 1, 20), configuration.retryMaximumDelay.nanoseconds)
            queue.retryAt = now + .nanoseconds(delay)
        }
    }
}
