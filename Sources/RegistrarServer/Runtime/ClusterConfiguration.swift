import Foundation
import NIOCore
import NIOPosix
import RegistrarCore

/// How a node finds and trusts its peers, and the Distro timings. Empty `members` means a
/// standalone node, which runs none of it.
public struct ClusterConfiguration: Sendable {
    /// Every member by its main (HTTP) port, this node included; peers talk on port + 1001.
    public var members: [MemberAddress] = []
    /// This node's own entry in `members`; found among the local addresses when not given.
    public var advertise: MemberAddress?
    /// The shared cluster identity every peer request carries. Required in cluster mode.
    public var secret: String?
    /// Mutual TLS on the cluster port; nil: cleartext (keep the port on a private network).
    public var peerTLS: PeerTLSSettings?
    /// Made from `peerTLS` by the composition root before anything starts.
    var peerTLSContexts: PeerTLSContexts?

    /// How often each peer is probed; `downAfter` failures in a row make it DOWN.
    public var probeInterval: TimeAmount = .seconds(2)
    public var probeTimeout: TimeAmount = .seconds(1)
    public var downAfter = 3
    /// Changes to one client within this window go to each peer as one datum.
    public var syncWindow: TimeAmount = .milliseconds(100)
    /// Most datums per sync request.
    public var maximumBatch = 500
    /// Retries of a failed sync back off from `retryDelay`, doubling, up to `retryMaximumDelay`.
    public var retryDelay: TimeAmount = .milliseconds(500)
    public var retryMaximumDelay: TimeAmount = .seconds(10)
    /// How long a sync, verify or probe request may take.
    public var requestTimeout: TimeAmount = .seconds(3)
    /// How often each node sends each peer the digest of the clients it owns.
    public var verifyInterval: TimeAmount = .seconds(5)
    /// Most digest entries per verify request.
    public var verifyBatch = 10_000
    /// A replica whose owner has not renewed it for this long is removed.
    public var replicaLease: TimeAmount = .seconds(20)
    /// Clients per snapshot chunk.
    public var snapshotChunkClients = 1000
    /// How long a starting node may spend loading a snapshot from one peer.
    public var snapshotTimeout: TimeAmount = .seconds(60)
    /// Largest decompressed body accepted from a peer.
    public var maximumInflatedSize = 64 * 1024 * 1024

    public init() {}

    public var isEnabled: Bool { !members.isEmpty }
}

extension ClusterConfiguration {
    /// This node's entry in the member list: `advertise` if set, otherwise the one member whose
    /// port is `port` and whose host is an address of this machine.
    public func resolveSelf(port: Int) throws -> MemberAddress {
        if let advertise { return advertise }
        let local = ClusterConfiguration.localAddresses()
        let candidates = members.filter { $0.port == port && local.contains($0.host) }
        guard candidates.count == 1 else {
            let list = members.map(\.description).joined(separator: ", ")
            throw StartupError(
                candidates.isEmpty
                    ? "this node (port \(port)) is not in the member list (\(list)); add it, or name its entry with --advertise"
                    : "several members could be this node (\(candidates.map(\.description).joined(separator: ", "))); name its entry with --advertise"
            )
        }
        return candidates[0]
    }

    private static func localAddresses() -> Set<String> {
        var addresses: Set<String> = ["localhost", "127.0.0.1", "::1"]
        for device in (try? System.enumerateDevices()) ?? [] {
            if let ip = device.address?.ipAddress { addresses.insert(ip) }
        }
        var name = [CChar](repeating: 0, count: 256)
        if gethostname(&name, name.count) == 0 {
            addresses.insert(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return addresses
    }
}
