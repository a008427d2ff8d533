import ArgumentParser
import Foundation
import Logging
import NIOPosix
import RegistrarClient
import RegistrarTransport
import RegistrarWire

/// C SDK clients (the real `RegistrarClient`, with its backoff and redo) hold I instances each;
/// the server is killed and started again, and the scenario measures how long until every
/// instance is back on the server.
struct StormBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storm",
        abstract:
            "Kill the server under C connected SDK clients, start it again, and time until all have reconnected and re-registered.",
        discussion: """
            Needs --server-pid (the server to SIGKILL) and --restart-command (a shell command that starts it \
            again on the same ports; prefix it with exec so that its PID is the server's). The restarted server \
            is stopped with SIGTERM at the end.
            """
    )

    @OptionGroup var target: BenchTarget
    @Option(help: "SDK clients (one connection each).") var clients = 1000
    @Option(help: "Instances each client registers.") var instancesPerClient = 1
    @Option(help: "Services the instances are spread over.") var services = 100
    @Option(name: .customLong("restart-command"), help: "Shell command that starts the server again.")
    var restartCommand: String?
    @Option(help: "Seconds to wait for everything to come back.") var timeout = 60
    @Option(help: "Clients set up at once.") var concurrency = 64

    func run() async throws {
        guard let oldPid = target.serverPid, let restartCommand else {
            throw ValidationError(
                "storm needs --server-pid (the server to kill) and --restart-command (how to start it again)")
        }
        FileDescriptorLimit.raiseToHardLimit()
        let (host, port) = try target.hostAndPort()
        let run = String(UUID().uuidString.prefix(6))
        let names = (0..<services).map { "bench-storm-\(run)-\($0)" }
        let expected = clients * instancesPerClient

        let sdk = try await connectClients(host: host, port: port, names: names)
        let before = try await NacosConnection.connect(
            host: host, port: port, group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(2))
        let registered = try await countInstances(on: before, names: names)
        await before.close()
        guard sdk.failures == 0, registered == expected else {
            await shutDown(sdk.clients)
            throw BenchFailure("storm: \(sdk.failures) of \(clients) clients failed to register before the storm")
        }

        kill(pid_t(oldPid), SIGKILL)
        let killedAt = ContinuousClock.now
        while kill(pid_t(oldPid), 0) == 0, ContinuousClock.now - killedAt < .seconds(10) {
            try await Task.sleep(for: .milliseconds(5))
        }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/bin/sh")
        server.arguments = ["-c", restartCommand]
        try server.run()
        var restarted = target
        restarted.serverPid = Int(server.processIdentifier)

        let deadline = killedAt + .seconds(timeout)
        async let serverUp = firstAccept(host: host, port: port, before: deadline)
        let restoredSoFar = SharedState(0)
        let progress = Progress("storm, instances back") { (restoredSoFar.withLock { $0 }, 0) }
        var observer: NacosConnection?
        while ContinuousClock.now < deadline {
            do {
                // One observer connection for the whole wait, replaced only if it breaks.
                if observer == nil {
                    observer = try await NacosConnection.connect(
                        host: host, port: port, group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(2))
                }
                let count = try await countInstances(on: observer!, names: names)
                restoredSoFar.withLock { $0 = count }
                if count >= expected { break }
            } catch {
                await observer?.close()
                observer = nil
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await observer?.close()
        let restored = restoredSoFar.withLock { $0 }
        progress.finish()
        let doneAt = ContinuousClock.now
        let serverUpAt = await serverUp
        let cpu = restarted.serverCPUSeconds() ?? 0
        let clientsRestored = Double(restored / max(1, instancesPerClient))
        let upToRestored: Double = serverUpAt.map { (doneAt - $0).seconds } ?? -1
        let rss: Double = (restarted.serverRSSBytes() ?? 0) / 1_048_576
        let missingClients = (expected - restored + instancesPerClient - 1) / instancesPerClient
        await shutDown(sdk.clients)
        server.terminate()
        for _ in 0..<200 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        try restarted.report(
            "storm: \(clients) clients x \(instancesPerClient) instances, server killed and restarted",
            [
                "clients": Double(clients),
                "instances_expected": Double(expected),
                "instances_restored": Double(restored),
                "seconds_kill_to_all_restored": (doneAt - killedAt).seconds,
                "seconds_server_up_to_all_restored": upToRestored,
                "server_cpu_seconds_since_restart": cpu,
                "server_cpu_us_per_client_restored": cpu / max(1, clientsRestored) * 1e6,
                "server_rss_after_mb": rss,
            ], errors: missingClients)
    }

    private func shutDown(_ clients: [RegistrarClient]) async {
        await withTaskGroup(of: Void.self) { tasks in
            for client in clients { tasks.addTask { await client.shutdown() } }
        }
    }

    /// Starts the clients and registers their instances, `concurrency` at a time.
    private func connectClients(host: String, port: Int, names: [String]) async throws -> (
        clients: [RegistrarClient], failures: Int
    ) {
        var configuration = RegistrarClient.Configuration(servers: [ServerAddress(host: host, port: port)])
        configuration.grpcPortOffset = 0
        configuration.requestTimeout = .seconds(30)
        var logger = Logger(label: "bench-storm")
        logger.logLevel = .critical
        let clients = try (0..<clients).map { _ in try RegistrarClient(configuration: configuration, logger: logger) }
        let failures = SharedState(0)
        let next = SharedState(0)
        let perClient = instancesPerClient
        let progress = Progress("storm setup") { (next.withLock { $0 }, failures.withLock { $0 }) }
        await withTaskGroup(of: Void.self) { tasks in
            for _ in 0..<min(concurrency, clients.count) {
                tasks.addTask {
                    while true {
                        let index = next.withLock { value in
                            defer { value += 1 }; return value
                        }
                        if index >= clients.count { return }
                        let ip = "10.\(index / 65536 % 256).\(index / 256 % 256).\(index % 256)"
                        let instances = (0..<perClient).map { ServiceInstance(ip: ip, port: 8000 + $0) }
                        do {
                            try await clients[index].registerInstances(instances, service: names[index % names.count])
                        } catch {
                            failures.withLock { $0 += 1 }
                        }
                    }
                }
            }
        }
        progress.finish()
        return (clients, failures.withLock { $0 })
    }

    /// When the restarted server first completes a TCP and HTTP/2 handshake.
    private func firstAccept(host: String, port: Int, before deadline: ContinuousClock.Instant) async -> ContinuousClock
        .Instant?
    {
        while ContinuousClock.now < deadline {
            if let connection = try? await GRPCClientConnection.connect(
                host: host, port: port, group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .milliseconds(200)
            ) {
                let upAt = ContinuousClock.now
                await connection.close()
                return upAt
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Instances on the server across the scenario's services.
    private func countInstances(on connection: NacosConnection, names: [String]) async throws -> Int {
        var total = 0
        for name in names {
            let query = ServiceQueryRequest(namespace: "public", serviceName: name, groupName: "DEFAULT_GROUP")
            let reply = try JSONDecoder().decode(
                ServiceInfoMessage.self,
                from: try await connection.request("ServiceQueryRequest", query, timeout: .seconds(5)).json)
            total += reply.serviceInfo?.hosts?.count ?? 0
        }
        return total
    }
}
