import ArgumentParser
import Foundation
import NIOPosix
import RegistrarClient
import RegistrarWire

/// Durable writes in cluster mode against the baseline of one node: the bench starts a single
/// node on SQLite and then a cluster of M members sharing one PostgreSQL database (`--database`),
/// all from this binary's `serve` on loopback, and measures in the same run:
/// - persistent registrations per second through one node or member (closed loop over gRPC);
/// - write-to-visible-on-peer: a persistent registration on member 1, then polling every other
///   member's v1 list every 2 ms until it shows (p50/p99 over the samples).
struct DurableBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "durable",
        abstract:
            "Persistent registrations per second on one SQLite node and on a cluster sharing PostgreSQL, and write-to-visible-on-peer latency.",
        discussion:
            "Starts every member itself on free loopback ports, in temporary data directories, and stops them at the end. The database should be empty (or one this bench used before)."
    )

    @OptionGroup var target: BenchTarget
    @Option(help: "The PostgreSQL URL the members share (default: REGISTRAR_DATABASE).") var database: String?
    @Option(help: "Cluster members.") var members = 3
    @Option(help: "Connections.") var connections = 8
    @Option(help: "Requests in flight per connection.") var inFlight = 8
    @Option(help: "Services per lane to spread registrations over.") var services = 100
    @Option(help: "Persistent registrations per configuration.") var requests = 20_000
    @Option(help: "Write-to-visible-on-peer samples.") var samples = 100

    func run() async throws {
        guard let database = database ?? ProcessInfo.processInfo.environment["REGISTRAR_DATABASE"] else {
            throw ValidationError("name the shared database with --database or REGISTRAR_DATABASE")
        }
        // Probing would add health flips (durable writes) to the load: off for this measurement.
        let quiet = ["--health-check-interval", "3600"]
        let single = try LocalMember.launch(port: try LocalMember.freeBasePort(), extra: quiet)
        defer { single.terminate() }
        try await single.waitUntilReady(within: .seconds(60))
        let baseline = try await registrations(on: single, label: "sqlite")
        single.terminate()

        let ports = try (0..<members).map { _ in try LocalMember.freeBasePort() }
        let arguments = quiet + LocalMember.clusterArguments(ports: ports) + ["--database", database]
        let cluster = try ports.map { try LocalMember.launch(port: $0, extra: arguments) }
        defer { for member in cluster { member.terminate() } }
        for member in cluster { try await member.waitUntilReady(within: .seconds(60)) }
        let shared = try await registrations(on: cluster[0], label: "postgres")
        let latencies = try await visibility(from: cluster[0], on: Array(cluster.dropFirst()))

        let baselineRate = baseline.figures["persistent_registrations_per_second"] ?? 0
        let sharedRate = shared.figures["persistent_registrations_per_second"] ?? 0
        try target.report(
            "durable: \(connections) connections x \(inFlight) in flight, 1 SQLite node vs \(members) members on PostgreSQL",
            [
                "sqlite_registrations_per_second": baselineRate,
                "sqlite_latency_p99_ms": baseline.figures["latency_p99_ms"] ?? 0,
                "postgres_registrations_per_second": sharedRate,
                "postgres_latency_p99_ms": shared.figures["latency_p99_ms"] ?? 0,
                "postgres_to_sqlite_ratio": sharedRate / max(1, baselineRate),
                "visible_on_peer_p50_ms": percentile(latencies, 0.5),
                "visible_on_peer_p99_ms": percentile(latencies, 0.99),
                "visible_on_peer_max_ms": latencies.last ?? 0,
                "visible_on_peer_samples": Double(latencies.count),
            ],
            errors: baseline.errors + shared.errors + (latencies.count == samples * (members - 1) ? 0 : 1))
    }

    private func registrations(on member: LocalMember, label: String) async throws -> (
        figures: [String: Double], errors: Int
    ) {
        var sdk = target
        sdk.server = "127.0.0.1:\(member.port)"
        let (services, tag) = (self.services, label)
        let load = ClosedLoop(target: sdk, connections: connections, inFlight: inFlight, requests: requests) {
            n, index, lane in
            let (type, body) = RegisterBench.registration(
                n, connection: index, lane: lane, services: services, persistent: true)
            return (
                type,
                Array(
                    String(decoding: body, as: UTF8.self).replacingOccurrences(of: "bench-", with: "bench-\(tag)-").utf8
                )
            )
        }
        return try await load.run("persistent_registrations")
    }

    /// One persistent registration at a time on `writer`; the time until each peer lists it (ms, sorted).
    private func visibility(from writer: LocalMember, on peers: [LocalMember]) async throws -> [Double] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var sdk = target
        sdk.server = "127.0.0.1:\(writer.port)"
        let connection = try await sdk.connect(1, group: group)[0]
        let service = "bench-visible-\(UUID().uuidString.prefix(6))"
        var latencies: [Double] = []
        for index in 0..<samples {
            let ip = "127.2.\(index / 250).\(index % 250)"
            let json =
                #"{"type":"registerInstance","namespace":"public","groupName":"DEFAULT_GROUP","serviceName":"\#(service)","instance":{"ip":"\#(ip)","port":9,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":false,"clusterName":"DEFAULT","metadata":{}}}"#
            let reply = try await connection.request(
                type: "PersistentInstanceRequest", json: Array(json.utf8), timeout: .seconds(5))
            let answer = try JSONDecoder().decode(ResponseFields.self, from: reply.json)
            guard answer.resultCode == 200 else {
                throw BenchFailure("a persistent registration failed: \(answer.message ?? "?")")
            }
            let written = ContinuousClock.now
            for peer in peers {
                while ContinuousClock.now - written < .seconds(5) {
                    if try await peer.lists(service, ip: ip) {
                        latencies.append((ContinuousClock.now - written).milliseconds)
                        break
                    }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
        }
        await connection.close()
        try await group.shutdownGracefully()
        return latencies.sorted()
    }
}
