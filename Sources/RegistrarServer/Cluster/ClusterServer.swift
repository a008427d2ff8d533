import Foundation
import NIOCore
import RegistrarCore
import RegistrarTransport
import RegistrarWire

/// The cluster port (main port + 1001): the peer protocol over Registrar's gRPC transport.
/// Every call is authenticated before anything else is read; refusals are logged and counted,
/// and answered with a gRPC status the sender logs and retries on.
///
/// Threading: calls are handled on their connection's event loop; decoding and applying
/// bodies run off it, in tasks.
final class ClusterServer: Sendable {
    private let server: GRPCServer

    init(node: ClusterNode, host: String, port: Int, group: EventLoopGroup) {
        var configuration = GRPCServer.Configuration(host: host, port: port)
        configuration.maximumMessageSize = node.configuration.maximumInflatedSize
        configuration.tls = node.configuration.peerTLSContexts?.server
        server = GRPCServer(configuration: configuration, group: group) { _ in ClusterConnection(node: node) }
    }

    var localAddress: SocketAddress? { server.localAddress }

    func start() async throws { try await server.start() }

    func stop() async { await server.stop() }
}

private final class ClusterConnection: GRPCServerConnectionHandler {
    let node: ClusterNode

    init(node: ClusterNode) { self.node = node }

    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        switch path {
        case ClusterWire.callPath: PeerCallHandler(node: node, streamsSnapshot: false)
        case ClusterWire.snapshotPath: PeerCallHandler(node: node, streamsSnapshot: true)
        default: nil
        }
    }

    func connectionClosed() {}
}

/// One peer call: a single request message, answered by one response (or by the snapshot's
/// chunks, in order).
private final class PeerCallHandler: GRPCServerCallHandler {
    let node: ClusterNode
    let streamsSnapshot: Bool
    private var received = false

    init(node: ClusterNode, streamsSnapshot: Bool) {
        self.node = node
        self.streamsSnapshot = streamsSnapshot
    }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        guard !received else {
            return call.finish(GRPCStatus(.invalidArgument, "a peer call carries exactly one request"))
        }
        received = true
        let node = self.node
        let streamsSnapshot = self.streamsSnapshot
        let bytes = Array(message.readableBytesView)
        let loop = call.eventLoop
        loop.makeFutureWithTask { () -> Result<[ByteBuffer], ClusterError> in
            do throws(ClusterError) {
                let request: WireMessage
                do throws(WireError) {
                    request = try PayloadCodec.decode(bytes)
                } catch {
                    throw .corruptBody("\(error)")
                }
                let sender = try node.authenticate(request)
                if streamsSnapshot {
                    let chunks = node.snapshotChunks()
                    node.logger.notice("sending a snapshot to \(sender): \(chunks.count) chunk(s)")
                    return .success(chunks)
                }
                let answer = try node.answer(request, from: sender)
                return .success([
                    ClusterWire.envelope(
                        type: answer.type, body: answer.body, from: node.me, secret: node.secret,
                        headers: answer.headers)
                ])
            } catch {
                return .failure(error)
            }
        }.assumeIsolated().whenSuccess { result in
            switch result {
            case .success(let responses):
                for response in responses { call.send(response, flush: false) }
                call.finish(.ok)
            case .failure(let error):
                node.counters.rejectedRequests.add(1)
                node.logger.warning("refused a peer request: \(error)")
                call.finish(Self.status(for: error))
            }
        }
    }

    func inboundFinished(on call: GRPCServerCall) {
        if !received {
            call.finish(GRPCStatus(.invalidArgument, "a peer call carries exactly one request; none arrived"))
        }
    }

    private static func status(for error: ClusterError) -> GRPCStatus {
        switch error {
        case .unauthenticated: GRPCStatus(.unauthenticated, "\(error)")
        case .notAMember: GRPCStatus(.permissionDenied, "\(error)")
        case .corruptBody, .unknownType, .outOfOrder: GRPCStatus(.invalidArgument, "\(error)")
        case .peerFailed: GRPCStatus(.internal, "\(error)")
        }
    }
}
