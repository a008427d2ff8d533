import ArgumentParser
import Foundation
import RegistrarServer
import RegistrarWire
import Synchronization

/// What the metrics of one gRPC registration cost, in process: exactly the recording
/// `UnaryCallHandler` does for each request (find the type's handles, check the answer, count it,
/// time it), from `--threads` threads at once, once with Prometheus handles and once with
/// swift-metrics' no-op ones (`--metrics off`), in alternating order. The end-to-end comparison
/// (`scripts/bench-metrics.sh`) cannot see below the machine's noise of a few microseconds per
/// registration; this can.
struct MetricsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "CPU per request of the request metrics, Prometheus handles against no-op ones, in one process.")

    @Option(help: "Requests recorded per round and setting.") var records = 1_000_000
    @Option(help: "Rounds; each records with both settings, the order alternating.") var rounds = 9
    @Option(help: "Threads recording at once (the server runs an event loop per core).") var threads = 2

    func run() throws {
        let on = RequestMetrics(metrics: RegistrarMetrics(enabled: true))
        let off = RequestMetrics(metrics: RegistrarMetrics(enabled: false))
        let answer = Array(#"{"resultCode":200,"errorCode":0,"success":true,"type":"registerInstance"}"#.utf8)
        var onNanoseconds: [Double] = []
        var offNanoseconds: [Double] = []
        for round in 0..<rounds {
            if round.isMultiple(of: 2) {
                onNanoseconds.append(Self.time(on, records, threads, answer))
                offNanoseconds.append(Self.time(off, records, threads, answer))
            } else {
                offNanoseconds.append(Self.time(off, records, threads, answer))
                onNanoseconds.append(Self.time(on, records, threads, answer))
            }
            print(
                String(
                    format: "round %d: on %.0f ns, off %.0f ns per request", round + 1,
                    onNanoseconds.last!, offNanoseconds.last!))
        }
        let medianOn = percentile(onNanoseconds.sorted(), 0.5)
        let medianOff = percentile(offNanoseconds.sorted(), 0.5)
        print(
            String(
                format: "median CPU per request: metrics on %.0f ns, off %.0f ns; the metrics cost %.0f ns (%.2fx)",
                medianOn, medianOff, medianOn - medianOff, medianOn / medianOff))
    }

    /// CPU time per recorded request, in nanoseconds, summed over `threads` threads that record
    /// into the same handles at once, as the server's event loops do.
    private static func time(_ metrics: RequestMetrics, _ count: Int, _ threads: Int, _ answer: [UInt8]) -> Double {
        let spent = Mutex<Int64>(0)
        let perThread = count / threads
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let start = threadCPUNanoseconds()
            for _ in 0..<perThread {
                let started = ContinuousClock.now
                let handles = metrics.grpc("InstanceRequest")
                handles.record(ok: ResponseBody.isSuccess(answer), since: started)
            }
            let used = threadCPUNanoseconds() - start
            spent.withLock { $0 += used }
        }
        return Double(spent.withLock { $0 }) / Double(perThread * threads)
    }

    private static func threadCPUNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
