import ArgumentParser
import Foundation
import NIOPosix
import RegistrarClient
import RegistrarTransport
import RegistrarWire
import Synchronization

/// C connections each registering I instances: the server's memory per connection and per
/// instance (RSS from /proc), and its CPU while they sit idle.
struct ConnectionsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Memory per connection and per instance, and idle CPU, with C connections holding I instances each.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections to open.") var connections = 1000
    @Option(help: "Instances each connection registers (one batch).") var instancesPerConnection = 10
    @Option(help: "Services the instances are spread over.") var services = 100
    @Option(help: "Seconds to measure idle CPU with everything connected.") var idleSeconds = 5
    @Option(help: "Connections opened at once.") var concurrency = 64

    func run() async throws {
        guard target.serverPid != nil else {
            throw ValidationError("connections needs --server-pid: its figures are the server's memory and CPU")
        }
        FileDescriptorLimit.raiseToHardLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let run = UUID().uuidString.prefix(6)
        let rssBefore = target.serverRSSBytes() ?? 0
        let cpuBefore = target.serverCPUSeconds() ?? 0
        let start = ContinuousClock.now
        let (all, failures) = await RegisteredConnections.open(
            target: target, connections: connections, instancesPerConnection: instancesPerConnection,
            services: services,
            concurrency: concurrency, group: group, label: "bench-conn-\(run)"
        )
        let setup = (ContinuousClock.now - start).seconds
        let cpuAfterSetup = target.serverCPUSeconds() ?? 0
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpuAfterIdle = target.serverCPUSeconds() ?? 0
        let rssAfter = target.serverRSSBytes() ?? 0
        for connection in all { await connection.close() }
        try await group.shutdownGracefully()
        let instances = Double(all.count * instancesPerConnection)
        let growth = rssAfter - rssBefore
        try target.report(
            "connections: \(connections) connections x \(instancesPerConnection) instances over \(services) services",
            [
                "connections_open": Double(all.count),
                "instances": instances,
                "setup_seconds": setup,
                "server_rss_before_mb": rssBefore / 1_048_576,
                "server_rss_after_mb": rssAfter / 1_048_576,
                "bytes_per_connection": growth / Double(max(1, all.count)),
                "bytes_per_instance": growth / max(1, instances),
                "server_cpu_us_per_connection_setup": (cpuAfterSetup - cpuBefore) / Double(max(1, all.count)) * 1e6,
                "server_idle_cpu_percent": (cpuAfterIdle - cpuAfterSetup) / Double(idleSeconds) * 100,
            ], errors: failures)
    }
}

/// Opens C SDK connections that each batch-register I instances, spread over S services: the
/// population the memory and cluster scenarios measure.
enum RegisteredConnections {
    static func open(
        target: BenchTarget, connections: Int, instancesPerConnection: Int, services: Int, concurrency: Int,
        group: MultiThreadedEventLoopGroup, label: String
    ) async -> (connections: [NacosConnection], failures: Int) {
        let opened = SharedState<[NacosConnection]>([])
        let failures = SharedState(0)
        let progress = Progress("connections") { (opened.withLock { $0.count }, failures.withLock { $0 }) }
        let next = SharedState(0)
        await withTaskGroup(of: Void.self) { tasks in
            for _ in 0..<min(concurrency, connections) {
                tasks.addTask {
                    while true {
                        let index = next.withLock { value in
                            defer { value += 1 }; return value
                        }
                        if index >= connections { return }
                        do {
                            let connection = try await target.connect(1, group: group)[0]
                            opened.withLock { $0.append(connection) }
                            let instances = (0..<instancesPerConnection).map {
                                InstanceBody(
                                    ip: "10.\(index / 65536 % 256).\(index / 256 % 256).\(index % 256)",
                                    port: 8000 + $0, weight: 1, healthy: true, enabled: true, clusterName: "DEFAULT")
                            }
                            let batch = BatchInstanceRequest(
                                namespace: "public", serviceName: "\(label)-\(index % services)",
                                groupName: "DEFAULT_GROUP",
                                type: "batchRegisterInstance", instances: instances)
                            let response = try JSONDecoder().decode(
                                ResponseFields.self,
                                from: try await connection.request("BatchInstanceRequest", batch, timeout: .seconds(30))
                                    .json)
                            if response.resultCode != 200 { failures.withLock { $0 += 1 } }
                        } catch {
                            failures.withLock { $0 += 1 }
                        }
                    }
                }
            }
        }
        progress.finish()
        return (opened.withLock { $0 }, failures.withLock { $0 })
    }
}
