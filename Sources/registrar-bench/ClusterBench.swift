import ArgumentParser
import Foundation
import NIOPosix
import RegistrarClient
import RegistrarTransport
import RegistrarWire

/// Two-member cluster on loopback, started by the bench itself from its own binary: C clients
/// holding I instances each connect to member A; then member B starts empty and loads them
/// as a snapshot from A. Measures B's time from start to ready, the verify traffic A sends its
/// peer once everything is in, and the compression of what crossed the cluster port.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract:
            "Snapshot load time of a starting member, verify bytes per second per peer, and Distro compression, with two local members.",
        discussion:
            "Starts both members itself (this binary's `serve`) on free loopback ports, in temporary data directories, and stops them at the end."
    )

    @OptionGroup var target: BenchTarget
    @Option(help: "SDK clients (one connection each) on member A.") var clients = 10_000
    @Option(help: "Instances each client registers.") var instancesPerClient = 10
    @Option(help: "Services the instances are spread over.") var services = 100
    @Option(help: "Seconds between verify digests (the members' --verify-interval).") var verifyInterval = 5
    @Option(help: "Seconds over which verify traffic is measured.") var measureSeconds = 30
    @Option(help: "Clients set up at once.") var concurrency = 64

    func run() async throws {
        FileDescriptorLimit.raiseToHardLimit()
        let ports = try (0..<2).map { _ in try LocalMember.freeBasePort() }
        let arguments = LocalMember.clusterArguments(ports: ports) + ["--verify-interval", String(verifyInterval)]
        let a = try LocalMember.launch(port: ports[0], extra: arguments)
        defer { a.terminate() }
        try await a.waitUntilReady(within: .seconds(60))

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var sdk = target
        sdk.server = "127.0.0.1:\(ports[0])"
        let setupStart = ContinuousClock.now
        let (connections, failures) = await RegisteredConnections.open(
            target: sdk, connections: clients, instancesPerConnection: instancesPerClient, services: services,
            concurrency: concurrency, group: group, label: "bench-cluster-\(UUID().uuidString.prefix(6))"
        )
        let setup = (ContinuousClock.now - setupStart).seconds
        let expected = connections.count * instancesPerClient

        let b = try LocalMember.launch(port: ports[1], extra: arguments)
        defer { b.terminate() }
        let loadStart = ContinuousClock.now
        try await b.waitUntilReady(within: .seconds(120))
        let startToReady = (ContinuousClock.now - loadStart).seconds
        let loaded = try await b.metrics()["instanceCount"] ?? 0
        let loadLine = b.logLine(containing: "loaded the cluster snapshot") ?? "(no snapshot line in B's log)"

        let latencies = try await replicationLatencies(from: connections[0], to: b)

        // Verify traffic once everything is in: A owns every client, B is its one peer.
        let before = try await a.metrics()
        try await Task.sleep(for: .seconds(measureSeconds))
        let after = try await a.metrics()
        let verifyBytesPerSecond =
            ((after["distroVerifyBytesSent"] ?? 0) - (before["distroVerifyBytesSent"] ?? 0)) / Double(measureSeconds)
        let bMetrics = try await b.metrics()

        for connection in connections { await connection.close() }
        try await group.shutdownGracefully()
        print("B: \(loadLine)")
        let received = bMetrics["distroCompressedBytesReceived"] ?? 0
        try target.report(
            "cluster: \(clients) clients x \(instancesPerClient) instances on A, B starts empty",
            [
                "clients": Double(connections.count),
                "instances_on_a": Double(expected),
                "instances_loaded_by_b": loaded,
                "setup_seconds": setup,
                "b_start_to_ready_seconds": startToReady,
                "snapshot_compressed_mb": received / 1_048_576,
                "snapshot_compression_ratio": (bMetrics["distroRawBytesReceived"] ?? 0) / max(1, received),
                "a_sync_compression_ratio": (after["distroRawBytesSent"] ?? 0)
                    / max(1, after["distroCompressedBytesSent"] ?? 0),
                "verify_bytes_per_second_per_peer": verifyBytesPerSecond,
                "verify_interval_seconds": Double(verifyInterval),
                "register_on_a_to_visible_on_b_p50_ms": percentile(latencies, 0.5),
                "register_on_a_to_visible_on_b_max_ms": latencies.last ?? 0,
            ], errors: failures + (Int(loaded) == expected ? 0 : 1) + (latencies.count == Self.latencySamples ? 0 : 1))
    }

    static let latencySamples = 20

    /// Registers one instance at a time through A and polls B's v1 list every 2 ms until it
    /// shows: the time a change takes to reach another member (sorted, in ms).
    private func replicationLatencies(from connection: NacosConnection, to member: LocalMember) async throws -> [Double]
    {
        let service = "bench-latency-\(UUID().uuidString.prefix(6))"
        var latencies: [Double] = []
        for index in 0..<Self.latencySamples {
            let batch = BatchInstanceRequest(
                namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "batchRegisterInstance",
                instances: [
                    InstanceBody(
                        ip: "10.200.0.\(index)", port: 80, weight: 1, healthy: true, enabled: true,
                        clusterName: "DEFAULT")
                ])
            _ = try await connection.request("BatchInstanceRequest", batch, timeout: .seconds(5))
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(5) {
                if try await member.lists(service, ip: "10.200.0.\(index)") {
                    latencies.append((ContinuousClock.now - start).milliseconds)
                    break
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        return latencies.sorted()
    }
}

/// A `registrar serve` child process on loopback, for scenarios that need members of their own.
final class LocalMember: Sendable {
    let port: Int
    let process: Process
    let log: URL
    let directory: URL

    private init(port: Int, process: Process, log: URL, directory: URL) {
        self.port = port
        self.process = process
        self.log = log
        self.directory = directory
    }

    /// Arguments that make the bench's members one cluster: the members and a shared key made
    /// for this run (32 random bytes, hex), never a fixed one.
    static func clusterArguments(ports: [Int]) -> [String] {
        var random = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(format: "%02x", random.next() as UInt8) }.joined()
        return ["--members", ports.map { "127.0.0.1:\($0)" }.joined(separator: ","), "--cluster-secret", key]
    }

    /// A main port P with P, P+1000 and P+1001 free on loopback.
    static func freeBasePort() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000...40_000)
            let free = [port, port + 1000, port + 1001].allSatisfy { candidate in
                guard
                    let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
                        host: "127.0.0.1", port: candidate
                    ).wait()
                else { return false }
                try? channel.close().wait()
                return true
            }
            if free { return port }
        }
        throw BenchFailure("found no free loopback ports for a member")
    }

    static func launch(port: Int, extra: [String]) throws -> LocalMember {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "registrar-bench-\(port)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let log = directory.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = try registrarBinary()
        process.arguments =
            [
                "serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir",
                directory.appendingPathComponent("data").path,
            ] + extra
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return LocalMember(port: port, process: process, log: log, directory: directory)
    }

    private var http: AdminHTTP { AdminHTTP(server: ServerAddress(host: "127.0.0.1", port: port), timeout: 5) }

    /// Polls the readiness endpoint every 20 ms.
    func waitUntilReady(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchFailure("member on port \(port) exited; its log: \(log.path)") }
            if let reply = try? await http.call("GET", "/nacos/v1/console/health/readiness"), reply.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchFailure("member on port \(port) was not ready within \(limit); its log: \(log.path)")
    }

    /// The numeric figures of `/nacos/v1/ns/operator/metrics`.
    func metrics() async throws -> [String: Double] {
        let reply = try await http.call("GET", "/nacos/v1/ns/operator/metrics", ["onlyStatus": "false"])
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [String: Any] ?? [:]
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }

    /// Whether the member's v1 list of `service` holds `ip`.
    func lists(_ service: String, ip: String) async throws -> Bool {
        let reply = try await http.call("GET", "/nacos/v1/ns/instance/list", ["serviceName": service])
        return reply.status == 200 && reply.body.contains("\"\(ip)\"")
    }

    func logLine(containing text: String) -> String? {
        (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").last { $0.contains(text) }.map(
            String.init)
    }

    /// SIGTERM, a bounded wait, then SIGKILL; the data directory is removed.
    func terminate() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The `registrar` executable built beside this one (`.build/<config>/registrar`).
func registrarBinary() throws -> URL {
    let sibling = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("registrar")
    guard FileManager.default.isExecutableFile(atPath: sibling.path) else {
        throw BenchFailure("cannot find the registrar binary beside registrar-bench at \(sibling.path); build it first")
    }
    return sibling
}
