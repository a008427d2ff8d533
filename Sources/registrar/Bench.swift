import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarWire
import Synchronization

/// `registrar bench`: load generators that measure a running server. Figures go in
/// docs/performance.md with the command that produced them.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running server (register throughput and CPU, push latency).",
        subcommands: [RegisterBench.self, PushLatencyBench.self]
    )
}

/// Options every scenario shares.
struct BenchTarget: ParsableArguments {
    @Option(help: "The server's SDK gRPC address.")
    var server = "127.0.0.1:9848"

    @Option(name: .customLong("server-pid"), help: "PID of a local server, to report its CPU time per operation from /proc.")
    var serverPid: Int?

    @Option(help: "Also write the figures as JSON to this file.")
    var json: String?

    func hostAndPort() throws -> (String, Int) {
        let parts = server.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--server must be host:port, got '\(server)'") }
        return (String(parts[0]), port)
    }

    /// The server's user+system CPU time in seconds, from /proc/PID/stat.
    func serverCPUSeconds() -> Double? {
        guard let pid = serverPid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func write(_ figures: [String: Double]) throws {
        for key in figures.keys.sorted() {
            print(String(format: "  %-28@ %12.2f", key as NSString, figures[key]!))
        }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
    }
}

/// Counters the load tasks share.
final class SharedTally: Sendable {
    let next = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let latencies = Mutex<[Double]>([])
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// C connections register (and re-register) instances across S services as fast as the server
/// answers, K requests in flight per connection.
struct RegisterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register", abstract: "Registrations per second, latency, server CPU per registration.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections.") var connections = 8
    @Option(help: "Requests in flight per connection.") var inFlight = 8
    @Option(help: "Services to spread registrations over.") var services = 100
    @Option(help: "Total registrations.") var requests = 50_000

    func run() async throws {
        let (host, port) = try target.hostAndPort()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var clients: [NacosConnection] = []
        for _ in 0..<connections {
            clients.append(try await NacosConnection.connect(host: host, port: port, group: group))
        }
        let tally = SharedTally()
        let requests = self.requests
        let services = self.services
        let cpuBefore = target.serverCPUSeconds()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, client) in clients.enumerated() {
                for lane in 0..<inFlight {
                    tasks.addTask {
                        var local: [Double] = []
                        while true {
                            let n = tally.next.add(1, ordering: .relaxed).oldValue
                            if n >= requests { break }
                            // Each lane owns its own services, so every request is a real change.
                            let service = "bench-\(index)-\(lane)-\(n % services)"
                            let json = #"{"type":"registerInstance","namespace":"public","groupName":"DEFAULT_GROUP","serviceName":"\#(service)","instance":{"ip":"10.0.\#(index).\#(lane)","port":\#(1 + n % 60000),"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","metadata":{"bench":"1"}}}"#
                            let began = ContinuousClock.now
                            do {
                                let response = try await client.request(type: "InstanceRequest", json: Array(json.utf8))
                                if (try? JSONDecoder().decode(ResponseFields.self, from: response.json))?.resultCode != 200 { tally.errors.add(1, ordering: .relaxed) }
                            } catch {
                                tally.errors.add(1, ordering: .relaxed)
                            }
                            local.append((ContinuousClock.now - began).milliseconds)
                        }
                        tally.latencies.withLock { $0.append(contentsOf: local) }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).seconds
        let cpuAfter = target.serverCPUSeconds()
        let sorted = tally.latencies.withLock { $0.sorted() }
        var figures: [String: Double] = [
            "registrations": Double(sorted.count),
            "errors": Double(tally.errors.load(ordering: .relaxed)),
            "seconds": elapsed,
            "registrations_per_second": Double(sorted.count) / elapsed,
            "latency_p50_ms": percentile(sorted, 0.50),
            "latency_p99_ms": percentile(sorted, 0.99),
            "latency_max_ms": sorted.last ?? 0,
        ]
        if let before = cpuBefore, let after = cpuAfter {
            figures["server_cpu_seconds"] = after - before
            figures["server_cpu_us_per_registration"] = (after - before) / Double(max(1, sorted.count)) * 1e6
        }
        print("register: \(connections) connections x \(inFlight) in flight, \(services) services per lane")
        try target.write(figures)
        for client in clients { await client.close() }
        try await group.shutdownGracefully()
    }
}

/// Isolated changes: one publisher re-registers, one subscriber on another connection times
/// how long the push takes to arrive, one change at a time.
struct PushLatencyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push-latency", abstract: "Latency from a register call to the push at a second client.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Changes to time.") var iterations = 1000
    @Option(help: "Pause between changes, in milliseconds (keeps changes isolated from the merge window).") var gapMs = 30

    func run() async throws {
        let (host, port) = try target.hostAndPort()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let publisher = try await NacosConnection.connect(host: host, port: port, group: group)
        let subscriber = try await NacosConnection.connect(host: host, port: port, group: group)
        let service = "push-latency-\(UUID().uuidString.prefix(8))"
        _ = try await subscriber.request("SubscribeServiceRequest", SubscribeServiceRequest(namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", subscribe: true))
        var pushes = subscriber.serverRequests.makeAsyncIterator()
        var samples: [Double] = []
        var missed = 0
        for iteration in 0..<iterations {
            let wanted = 10_000 + iteration
            let request = InstanceRequest(namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "registerInstance",
                                          instance: InstanceBody(ip: "10.9.0.1", port: wanted, weight: 1, healthy: true, enabled: true, clusterName: "DEFAULT"))
            let began = ContinuousClock.now
            _ = try await publisher.request("InstanceRequest", request)
            var arrived = false
            let deadline = began + .seconds(5)
            while ContinuousClock.now < deadline, let push = await pushes.next() {
                guard push.message.type == "NotifySubscriberRequest",
                      let info = try? JSONDecoder().decode(ServiceInfoMessage.self, from: push.message.json) else { continue }
                if info.serviceInfo?.hosts?.first?.port == wanted {
                    samples.append((ContinuousClock.now - began).milliseconds)
                    arrived = true
                    break
                }
            }
            if !arrived { missed += 1 }
            try await Task.sleep(for: .milliseconds(gapMs))
        }
        let sorted = samples.sorted()
        print("push-latency: \(iterations) isolated changes, \(gapMs) ms apart")
        try target.write([
            "samples": Double(sorted.count), "missed": Double(missed),
            "latency_p50_ms": percentile(sorted, 0.50), "latency_p99_ms": percentile(sorted, 0.99), "latency_max_ms": sorted.last ?? 0,
        ])
        await publisher.close()
        await subscriber.close()
        try await group.shutdownGracefully()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}
