import Foundation
import NIOPosix
import RegistrarClient
import RegistrarWire
import Synchronization

/// A closed-loop load: C connections with K requests in flight each, until N requests are done.
/// Each request is built by `make(n, connection, lane)`; an answer whose `resultCode` is not 200
/// (or no answer) counts as an error. Reports throughput of successful requests, latency, and
/// the server's CPU per request.
struct ClosedLoop {
    var target: BenchTarget
    var connections: Int
    var inFlight: Int
    var requests: Int
    /// (type, JSON body) of request `n` on connection `connection`, lane `lane`.
    var make: @Sendable (_ n: Int, _ connection: Int, _ lane: Int) -> (String, [UInt8])

    private final class Tally: Sendable {
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let latencies = Mutex<[Double]>([])
    }

    private static let success = Array(#""resultCode":200"#.utf8)

    /// Whether a response says `"resultCode":200`. A byte scan, not a JSON decode: the load
    /// generator shares the machine with the server, and Foundation's decoder would cost it
    /// more CPU per answer than the server spends on the request. (Our server writes compact
    /// JSON; a spaced `"resultCode": 200` from another server would count as an error, never
    /// as a false success.)
    static func succeeded(_ json: some RandomAccessCollection<UInt8>) -> Bool {
        let bytes = Array(json)
        guard bytes.count >= success.count else { return false }
        for start in 0...(bytes.count - success.count) where bytes[start] == success[0] {
            if bytes[start..<start + success.count].elementsEqual(success) { return true }
        }
        return false
    }

    /// Runs the load; returns the figures (keys prefixed by `name`) and the error count.
    func run(_ name: String) async throws -> (figures: [String: Double], errors: Int) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clients = try await target.connect(connections, group: group)
        let tally = Tally()
        let (requests, make) = (self.requests, self.make)
        let progress = Progress(name) { (tally.done.load(ordering: .relaxed), tally.errors.load(ordering: .relaxed)) }
        let cpuBefore = target.serverCPUSeconds()
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { tasks in
            for (index, client) in clients.enumerated() {
                for lane in 0..<inFlight {
                    tasks.addTask {
                        var local: [Double] = []
                        while true {
                            let n = tally.next.add(1, ordering: .relaxed).oldValue
                            if n >= requests { break }
                            let (type, json) = make(n, index, lane)
                            let began = ContinuousClock.now
                            do {
                                let response = try await client.request(type: type, json: json)
                                if ClosedLoop.succeeded(response.json) {
                                    local.append((ContinuousClock.now - began).milliseconds)
                                } else {
                                    tally.errors.add(1, ordering: .relaxed)
                                }
                            } catch {
                                tally.errors.add(1, ordering: .relaxed)
                            }
                            tally.done.add(1, ordering: .relaxed)
                        }
                        tally.latencies.withLock { $0.append(contentsOf: local) }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        let cpuAfter = target.serverCPUSeconds()
        progress.finish()
        for client in clients { await client.close() }
        try await group.shutdownGracefully()
        let sorted = tally.latencies.withLock { $0.sorted() }
        var figures: [String: Double] = [
            "\(name)_ok": Double(sorted.count),
            "seconds": elapsed,
            "\(name)_per_second": Double(sorted.count) / elapsed,
            "latency_p50_ms": percentile(sorted, 0.50),
            "latency_p99_ms": percentile(sorted, 0.99),
            "latency_max_ms": sorted.last ?? 0,
        ]
        if let before = cpuBefore, let after = cpuAfter {
            figures["server_cpu_seconds"] = after - before
            figures["server_cpu_us_per_\(name)"] = (after - before) / Double(max(1, sorted.count + tally.errors.load(ordering: .relaxed))) * 1e6
        }
        return (figures, tally.errors.load(ordering: .relaxed))
    }
}
