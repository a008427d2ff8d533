import ArgumentParser
import Foundation
import NIOPosix
import RegistrarClient
import RegistrarWire
import Synchronization

/// Push latency for isolated changes (one publisher, one subscriber on another connection), then
/// fan-out: one change to a service with S subscribers on S connections, timed until every one
/// has it.
struct PushBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Register-to-push latency, and fan-out time to S subscribers.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Isolated changes to time.") var iterations = 1000
    @Option(help: "Pause between isolated changes, in milliseconds (keeps them out of the merge window).") var gapMs =
        30
    @Option(help: "Subscriber connections for the fan-out part (0 skips it).") var fanOut = 1000
    @Option(help: "Fan-out changes to time.") var fanOutChanges = 10

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var figures: [String: Double] = [:]
        var errors = 0
        let cpuBefore = target.serverCPUSeconds()
        let isolated = try await isolatedChanges(group: group)
        figures.merge(isolated.figures) { $1 }
        errors += isolated.missed
        if fanOut > 0 {
            let spread = try await fanOutChanges(group: group)
            figures.merge(spread.figures) { $1 }
            errors += spread.missed
        }
        if let before = cpuBefore, let after = target.serverCPUSeconds() {
            figures["server_cpu_seconds"] = after - before
        }
        try await group.shutdownGracefully()
        try target.report(
            "push: \(iterations) isolated changes \(gapMs) ms apart; fan-out to \(fanOut) subscribers x \(fanOutChanges)",
            figures, errors: errors)
    }

    private func register(_ publisher: NacosConnection, _ service: String, port: Int) async throws {
        let request = InstanceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "registerInstance",
            instance: InstanceBody(
                ip: "10.9.0.1", port: port, weight: 1, healthy: true, enabled: true, clusterName: "DEFAULT"))
        let response = try JSONDecoder().decode(
            ResponseFields.self, from: try await publisher.request("InstanceRequest", request).json)
        guard response.resultCode == 200 else { throw BenchFailure("registration refused: \(response.message ?? "?")") }
    }

    private func subscribe(_ connection: NacosConnection, _ service: String) async throws {
        let response = try JSONDecoder().decode(
            ResponseFields.self,
            from: try await connection.request(
                "SubscribeServiceRequest",
                SubscribeServiceRequest(
                    namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", subscribe: true)
            ).json)
        guard response.resultCode == 200 else { throw BenchFailure("subscription refused: \(response.message ?? "?")") }
    }

    /// The port of the first host in a NotifySubscriberRequest for `service`, if it is one.
    private static func pushedPort(_ request: NacosConnection.ServerRequest, service: String) -> Int? {
        guard request.message.type == "NotifySubscriberRequest",
            let info = (try? JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json))?.serviceInfo,
            info.name == service
        else { return nil }
        return info.hosts?.first?.port
    }

    private func isolatedChanges(group: MultiThreadedEventLoopGroup) async throws -> (
        figures: [String: Double], missed: Int
    ) {
        let pair = try await target.connect(2, group: group)
        let (publisher, subscriber) = (pair[0], pair[1])
        let service = "bench-push-\(UUID().uuidString.prefix(8))"
        try await subscribe(subscriber, service)
        var pushes = subscriber.serverRequests.makeAsyncIterator()
        var samples: [Double] = []
        var missed = 0
        for iteration in 0..<iterations {
            let wanted = 10_000 + iteration
            let began = ContinuousClock.now
            try await register(publisher, service, port: wanted)
            var arrived = false
            while ContinuousClock.now < began + .seconds(5), let push = await pushes.next() {
                if Self.pushedPort(push, service: service) == wanted {
                    samples.append((ContinuousClock.now - began).milliseconds)
                    arrived = true
                    break
                }
            }
            if !arrived { missed += 1 }
            try await Task.sleep(for: .milliseconds(gapMs))
        }
        await publisher.close()
        await subscriber.close()
        let sorted = samples.sorted()
        return (
            [
                "push_samples": Double(sorted.count), "push_missed": Double(missed),
                "push_latency_p50_ms": percentile(sorted, 0.50), "push_latency_p99_ms": percentile(sorted, 0.99),
                "push_latency_max_ms": sorted.last ?? 0,
            ], missed
        )
    }

    private func fanOutChanges(group: MultiThreadedEventLoopGroup) async throws -> (
        figures: [String: Double], missed: Int
    ) {
        let service = "bench-fanout-\(UUID().uuidString.prefix(8))"
        let publisher = try await target.connect(1, group: group)[0]
        let subscribers = try await target.connect(fanOut, group: group)
        for subscriber in subscribers { try await subscribe(subscriber, service) }
        var completions: [Double] = []
        var missed = 0
        for change in 0..<fanOutChanges {
            let wanted = 20_000 + change
            let arrivals = SharedState<[Double]>([])
            let began = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for subscriber in subscribers {
                    tasks.addTask {
                        var pushes = subscriber.serverRequests.makeAsyncIterator()
                        while ContinuousClock.now < began + .seconds(10), let push = await pushes.next() {
                            if Self.pushedPort(push, service: service) == wanted {
                                let at = (ContinuousClock.now - began).milliseconds
                                arrivals.withLock { $0.append(at) }
                                return
                            }
                        }
                    }
                }
                try await register(publisher, service, port: wanted)
                try await tasks.waitForAll()
            }
            let received = arrivals.withLock { $0 }
            if received.count == subscribers.count {
                completions.append(received.max() ?? 0)
            } else {
                missed += subscribers.count - received.count
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        for subscriber in subscribers { await subscriber.close() }
        await publisher.close()
        let sorted = completions.sorted()
        return (
            [
                "fanout_subscribers": Double(fanOut), "fanout_changes_complete": Double(sorted.count),
                "fanout_all_received_p50_ms": percentile(sorted, 0.50), "fanout_all_received_max_ms": sorted.last ?? 0,
                "fanout_missed_deliveries": Double(missed),
            ], missed
        )
    }
}
