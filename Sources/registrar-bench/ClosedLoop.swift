import Foundation
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarTransport
import RegistrarWire
import Synchronization

/// A closed-loop load: C connections with K requests in flight each, until N requests are done.
/// Each request is built by `make(n, connection, lane)`; an answer whose `resultCode` is not 200
/// (or no answer) counts as an error. Reports throughput of successful requests, latency, and
/// the server's CPU per request.
///
/// The load generator shares the machine with the server, so it is kept cheap: every lane runs
/// on the client's single event loop, and an answer's callback sends that lane's next request
/// at once, with no task or thread hop per call.
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
    }

    private static let success = Array(#""resultCode":200"#.utf8)

    /// Whether an answer says `"resultCode":200`. A byte scan of the Payload, whose body carries
    /// the response JSON verbatim, not a decode: decoding would cost the load generator more CPU
    /// per answer than the server spends on the request. (Our server writes compact JSON; a
    /// spaced `"resultCode": 200` from another server would count as an error, never as a false
    /// success.)
    static func succeeded(_ answer: ByteBuffer) -> Bool {
        answer.withUnsafeReadableBytes { bytes in
            let needle = success
            guard bytes.count >= needle.count else { return false }
            for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
                var matched = true
                for offset in 1..<needle.count where bytes[start + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return true }
            }
            return false
        }
    }

    /// One request at a time on one connection. Threading: confined to the connection's loop.
    private final class Lane {
        let connection: GRPCClientConnection
        let tally: Tally
        let requests: Int
        let make: (Int) -> (String, [UInt8])
        let headers: [String: String]
        let finished: EventLoopPromise<[Double]>
        var latencies: [Double] = []

        init(
            connection: GRPCClientConnection, tally: Tally, requests: Int, headers: [String: String],
            make: @escaping (Int) -> (String, [UInt8])
        ) {
            self.connection = connection
            self.headers = headers
            self.tally = tally
            self.requests = requests
            self.make = make
            self.finished = connection.eventLoop.makePromise()
        }

        func sendNext() {
            let n = tally.next.add(1, ordering: .relaxed).oldValue
            guard n < requests else { return finished.succeed(latencies) }
            let (type, json) = make(n)
            let began = NIODeadline.now()
            let request = ByteBuffer(bytes: PayloadCodec.encode(type: type, json: json, headers: headers))
            connection.unary(path: "/Request/request", request: request).assumeIsolated().whenComplete { result in
                if case .success(let answer) = result, ClosedLoop.succeeded(answer) {
                    self.latencies.append(Double((NIODeadline.now() - began).nanoseconds) / 1e6)
                } else {
                    self.tally.errors.add(1, ordering: .relaxed)
                }
                self.tally.done.add(1, ordering: .relaxed)
                if case .success = result {
                    self.sendNext()
                } else {
                    // A failed call can complete at once (a closed connection); hop so that a
                    // run of failures does not recurse.
                    self.connection.eventLoop.assumeIsolated().execute { self.sendNext() }
                }
            }
        }
    }

    /// Runs the load; returns the figures (keys prefixed by `name`) and the error count.
    func run(_ name: String) async throws -> (figures: [String: Double], errors: Int) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let headers = try await target.accessHeaders()
        let clients = try await target.connect(connections, group: group)
        let tally = Tally()
        let (requests, make, inFlight) = (self.requests, self.make, self.inFlight)
        let progress = Progress(name) { (tally.done.load(ordering: .relaxed), tally.errors.load(ordering: .relaxed)) }
        let cpuBefore = target.serverCPUSeconds()
        let start = ContinuousClock.now
        let loop = group.next()
        let lanes = try await loop.submit {
            var lanes: [EventLoopFuture<[Double]>] = []
            for (index, client) in clients.enumerated() {
                for lane in 0..<inFlight {
                    let runner = Lane(connection: client.transport, tally: tally, requests: requests, headers: headers)
                    {
                        make($0, index, lane)
                    }
                    runner.sendNext()
                    lanes.append(runner.finished.futureResult)
                }
            }
            return EventLoopFuture.whenAllSucceed(lanes, on: loop)
        }.get().get()
        let elapsed = (ContinuousClock.now - start).seconds
        let cpuAfter = target.serverCPUSeconds()
        progress.finish()
        for client in clients { await client.close() }
        try await group.shutdownGracefully()
        let sorted = lanes.flatMap { $0 }.sorted()
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
            figures["server_cpu_us_per_\(name)"] =
                (after - before) / Double(max(1, sorted.count + tally.errors.load(ordering: .relaxed))) * 1e6
        }
        return (figures, tally.errors.load(ordering: .relaxed))
    }
}
