import CompressNIO
import Foundation
import NIOCore
import NIOPosix
import RegistrarCore
import RegistrarServer
import RegistrarTesting
import RegistrarTransport
import RegistrarWire
import Synchronization
import Testing

/// A loopback main port P whose cluster port P+1001 is free too (the SDK port is set apart).
private func freeClusterBasePort() throws -> Int {
    for _ in 0..<50 {
        let port = Int.random(in: 20_000...40_000)
        let bound = [port, port + 1001].allSatisfy { candidate in
            guard
                let channel = try? ServerBootstrap(group: TestServer.group).bind(host: "127.0.0.1", port: candidate)
                    .wait()
            else { return false }
            try? channel.close().wait()
            return true
        }
        if bound { return port }
    }
    throw TimedOut()
}

private let secret = "cluster-test-secret"
private let orders = ServiceKey(namespace: "public", group: nil, name: "orders")

/// A cluster node on loopback whose only peer is `peer`; the tests speak as that peer.
private func startNode(peer: MemberAddress, _ tune: @escaping (inout ServerConfiguration) -> Void = { _ in })
    async throws -> (TestServer, MemberAddress)
{
    let port = try freeClusterBasePort()
    let me = MemberAddress(host: "127.0.0.1", port: port)
    let server = try await TestServer.start { configuration in
        configuration.port = port
        configuration.cluster.members = [me, peer]
        configuration.cluster.secret = secret
        configuration.cluster.probeTimeout = .milliseconds(300)
        tune(&configuration)
    }
    return (server, me)
}

private func zlib(_ bytes: [UInt8]) throws -> [UInt8] {
    var buffer = ByteBuffer(bytes: bytes)
    return Array(try buffer.compress(with: .zlib()).readableBytesView)
}

private func payload(_ type: String, body: [UInt8], member: String?, identity: String?, headers: [String: String] = [:])
    -> ByteBuffer
{
    var all = headers
    if let member { all["member"] = member }
    if let identity { all["identity"] = identity }
    return ByteBuffer(bytes: PayloadCodec.encode(type: type, json: body, headers: all))
}

/// One unary call to a node's cluster port, as a peer would make it.
private func peerCall(_ node: MemberAddress, _ request: ByteBuffer) async throws -> Result<WireMessage, GRPCStatus> {
    let connection = try await GRPCClientConnection.connect(
        host: "127.0.0.1", port: node.port + 1001, group: TestServer.group)
    let result: Result<WireMessage, GRPCStatus>
    do {
        let response = try await connection.unary(
            path: "/registrar.Cluster/call", request: request, timeout: .seconds(5)
        ).get()
        result = .success(try PayloadCodec.decode(Array(response.readableBytesView)))
    } catch let status as GRPCStatus {
        result = .failure(status)
    }
    await connection.close()
    return result
}

private func syncBody(_ data: [ClientDatum]) throws -> [UInt8] {
    try zlib(DistroJSON.encode(DistroJSON.Batch(data: data)))
}

private func hosts(_ server: TestServer, _ service: String = "orders") async throws -> [String] {
    try await server.http.list(service).hosts.compactMap { $0["ip"] as? String }
}

@Suite("Cluster port: peers, bad input, snapshots", .serialized, .stopsWhatItStarts)
struct ClusterPeerTests {
    let peer = MemberAddress(host: "127.0.0.1", port: 1)

    @Test func aPeersDatumIsAppliedAndBadRequestsAreRejectedWithoutLosingIt() async throws {
        let (node, me) = try await startNode(peer: peer)
        let datum = ClientDatum(
            clientId: "1_10.0.0.2_5000", revision: 10, owner: peer.description,
            publications: [orders: [Instance(ip: "10.1.0.1", port: 80)]])
        let good = try syncBody([datum])
        let typed = ["resourceType": DistroJSON.clientDataType]
        let applied = try await peerCall(
            me, payload("DistroSync", body: good, member: peer.description, identity: secret, headers: typed))
        #expect((try? applied.get().type) == "DistroSyncAck")
        #expect(try await hosts(node) == ["10.1.0.1"])

        let newer = ClientDatum(
            clientId: datum.clientId, revision: 11, owner: peer.description,
            publications: [orders: [Instance(ip: "10.1.0.2", port: 80)]])
        var corrupt = try syncBody([newer])
        corrupt[corrupt.count / 2] ^= 0xFF
        corrupt[corrupt.count / 2 + 1] ^= 0xFF
        let truncated = Array(try syncBody([newer]).prefix(20))
        let rejected: [(String, ByteBuffer, GRPCStatus.Code)] = [
            (
                "corrupt zlib",
                payload("DistroSync", body: corrupt, member: peer.description, identity: secret, headers: typed),
                .invalidArgument
            ),
            (
                "truncated zlib",
                payload("DistroSync", body: truncated, member: peer.description, identity: secret, headers: typed),
                .invalidArgument
            ),
            (
                "JSON that is not a batch",
                payload(
                    "DistroSync", body: try zlib(Array(#"{"data":7}"#.utf8)), member: peer.description,
                    identity: secret, headers: typed), .invalidArgument
            ),
            (
                "unknown datum type",
                payload(
                    "DistroSync", body: try syncBody([newer]), member: peer.description, identity: secret,
                    headers: ["resourceType": "Nacos:Naming:v1"]), .invalidArgument
            ),
            (
                "unknown message type", payload("DistroQuery", body: [], member: peer.description, identity: secret),
                .invalidArgument
            ),
            (
                "no identity",
                payload(
                    "DistroSync", body: try syncBody([newer]), member: peer.description, identity: nil, headers: typed),
                .unauthenticated
            ),
            (
                "wrong identity",
                payload(
                    "DistroSync", body: try syncBody([newer]), member: peer.description, identity: "guess",
                    headers: typed), .unauthenticated
            ),
            (
                "not a member",
                payload(
                    "DistroSync", body: try syncBody([newer]), member: "127.0.0.1:2", identity: secret, headers: typed),
                .permissionDenied
            ),
            (
                "claims to be the node itself",
                payload(
                    "DistroSync", body: try syncBody([newer]), member: me.description, identity: secret, headers: typed),
                .permissionDenied
            ),
        ]
        for (name, request, code) in rejected {
            let result = try await peerCall(me, request)
            guard case .failure(let status) = result else {
                Issue.record("\(name): accepted")
                continue
            }
            #expect(status.code == code, "\(name): \(status)")
        }
        // Garbage that is not even a Payload.
        if case .success = try await peerCall(me, ByteBuffer(bytes: [0xFF, 0x01, 0x02])) {
            Issue.record("a non-Payload was accepted")
        }
        // Nothing was lost, and the node still takes good data afterwards.
        #expect(try await hosts(node) == ["10.1.0.1"])
        let metrics = try await node.http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")]).object
        #expect(metrics["distroRejectedRequests"] as? Int == rejected.count + 1)
        _ = try await peerCall(
            me,
            payload(
                "DistroSync", body: try syncBody([newer]), member: peer.description, identity: secret, headers: typed))
        #expect(try await hosts(node) == ["10.1.0.2"])
    }

    @Test func aMemberWithABlankClusterSecretRefusesToStart() async throws {
        for blank in [nil, ""] as [String?] {
            do {
                _ = try await startNode(peer: peer) { $0.cluster.secret = blank }
                Issue.record("a member started with cluster secret \(String(describing: blank))")
            } catch let error as StartupError {
                #expect(error.description.contains("--cluster-secret"), "\(error)")
            }
        }
    }

    @Test func aDatumOwnedBySomeoneElseIsNotTakenFromThisPeer() async throws {
        let (node, me) = try await startNode(peer: peer)
        let forged = ClientDatum(
            clientId: "1_10.0.0.3_5000", revision: 1, owner: "127.0.0.1:3",
            publications: [orders: [Instance(ip: "10.9.9.9", port: 80)]])
        _ = try await peerCall(
            me,
            payload(
                "DistroSync", body: try syncBody([forged]), member: peer.description, identity: secret,
                headers: ["resourceType": DistroJSON.clientDataType]))
        #expect(try await hosts(node).isEmpty)
    }

    @Test func verifyRenewsWhatIsCurrentAndAsksForWhatIsMissing() async throws {
        let (_, me) = try await startNode(peer: peer)
        let datum = ClientDatum(
            clientId: "1_10.0.0.2_5000", revision: 10, owner: peer.description,
            publications: [orders: [Instance(ip: "10.1.0.1", port: 80)]])
        _ = try await peerCall(
            me,
            payload(
                "DistroSync", body: try syncBody([datum]), member: peer.description, identity: secret,
                headers: ["resourceType": DistroJSON.clientDataType]))
        let entries: [(clientId: String, revision: UInt64)] = [
            ("1_10.0.0.2_5000", 10), ("1_10.0.0.2_5001", 4), ("1_10.0.0.2_5002", 9),
        ]
        let digest = DistroJSON.Digest(entries)
        let response = try await peerCall(
            me,
            payload(
                "DistroVerify", body: try zlib(DistroJSON.encode(digest)), member: peer.description, identity: secret)
        ).get()
        var body = ByteBuffer(data: response.json)
        let inflated = try body.decompress(with: CompressionAlgorithm.zlib())
        let resend = try DistroJSON.decodeResend(Data(inflated.readableBytesView))
        #expect(Set(resend.clientIds) == ["1_10.0.0.2_5001", "1_10.0.0.2_5002"])
    }

    @Test func aReplicaExpiresWhenItsOwnerFallsSilent() async throws {
        let (node, me) = try await startNode(peer: peer) { $0.cluster.replicaLease = .seconds(1) }
        let datum = ClientDatum(
            clientId: "1_10.0.0.2_5000", revision: 10, owner: peer.description,
            publications: [orders: [Instance(ip: "10.1.0.1", port: 80)]])
        _ = try await peerCall(
            me,
            payload(
                "DistroSync", body: try syncBody([datum]), member: peer.description, identity: secret,
                headers: ["resourceType": DistroJSON.clientDataType]))
        #expect(try await hosts(node) == ["10.1.0.1"])
        #expect(try await eventually(.seconds(5)) { try await hosts(node).isEmpty })
    }

    @Test func aStartingNodeLoadsASnapshotInOrderAndRejectsChunksOutOfOrder() async throws {
        let chunks = try (0..<3).map { index in
            let datum = ClientDatum(
                clientId: "1_10.0.0.2_\(index)", revision: 5, owner: "127.0.0.1:9",
                publications: [orders: [Instance(ip: "10.2.0.\(index)", port: 80)]])
            return payload(
                "DistroSnapshotChunk", body: try syncBody([datum]), member: nil, identity: nil,
                headers: ["sequence": String(index), "last": index == 2 ? "true" : "false"])
        }
        for (order, expected) in [([0, 1, 2], ["10.2.0.0", "10.2.0.1", "10.2.0.2"]), ([1, 0, 2], [])] {
            let fake = try await FakePeer.start(snapshot: order.map { chunks[$0] })
            let (node, _) = try await startNode(peer: fake.address)
            // The node reports ready only after the load: what it loaded is already there.
            #expect(try await hosts(node).sorted() == expected, "chunk order \(order)")
            let metrics = try await node.http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")])
                .object
            #expect(
                metrics[expected.isEmpty ? "distroSnapshotFailures" : "distroSnapshotsLoaded"] as? Int == 1,
                "chunk order \(order)")
            await node.stop()
            await fake.stop()
        }
    }
}

/// A peer that answers probes as ready and serves a fixed snapshot, chunk by chunk.
private final class FakePeer: Sendable {
    let server: GRPCServer
    let address: MemberAddress

    private init(server: GRPCServer, address: MemberAddress) {
        self.server = server
        self.address = address
    }

    static func start(snapshot: [ByteBuffer]) async throws -> FakePeer {
        let port = try freeClusterBasePort()
        let server = GRPCServer(configuration: .init(host: "127.0.0.1", port: port + 1001), group: TestServer.group) {
            _ in
            FakePeerConnection(snapshot: snapshot)
        }
        try await server.start()
        tearDownAfterTest { await server.stop() }
        return FakePeer(server: server, address: MemberAddress(host: "127.0.0.1", port: port))
    }

    func stop() async { await server.stop() }
}

private final class FakePeerConnection: GRPCServerConnectionHandler {
    let snapshot: [ByteBuffer]

    init(snapshot: [ByteBuffer]) { self.snapshot = snapshot }

    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        FakePeerCall(
            responses: path == "/registrar.Cluster/snapshot"
                ? snapshot : [payload("MemberPong", body: [], member: nil, identity: nil, headers: ["ready": "true"])])
    }

    func connectionClosed() {}
}

private final class FakePeerCall: GRPCServerCallHandler {
    let responses: [ByteBuffer]

    init(responses: [ByteBuffer]) { self.responses = responses }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        for response in responses { call.send(response) }
        call.finish(.ok)
    }
}
