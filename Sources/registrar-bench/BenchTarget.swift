import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import RegistrarClient
import Synchronization

/// Options every scenario shares, and how figures are reported.
struct BenchTarget: ParsableArguments {
    @Option(
        help: """
            The server's main (HTTP) address, as every other verb and every Nacos client takes it; \
            the SDK gRPC port is its port + 1000.
            """
    )
    var server = "127.0.0.1:8848"

    @Option(name: .customLong("grpc-port"), help: "The SDK gRPC port, when the server does not use main port + 1000.")
    var grpcPort: Int?

    @Option(
        name: .customLong("server-pid"),
        help: "PID of a local server, to report its CPU time per operation (and RSS) from /proc.")
    var serverPid: Int?

    @Option(help: "Also write the figures as JSON to this file.")
    var json: String?

    @Option(help: "Log in as this user (at the main port) and send its token with every request.")
    var username: String?

    @Option(help: "The password of --username.")
    var password: String?

    @Option(name: .customLong("tls-ca"), help: "Connect over TLS, trusting this PEM CA for the server's certificate.")
    var tlsCA: String?

    /// TLS for the login and the connections, with `--tls-ca`.
    func tlsConfiguration() throws -> TLSConfiguration? {
        try tlsCA.map { try RegistrarClient.Configuration.tls(trusting: $0) }
    }

    /// The TLS context of every connection (ALPN h2), with `--tls-ca`.
    func tlsContext() throws -> NIOSSLContext? {
        try tlsConfiguration().map(RegistrarClient.Configuration.grpcContext)
    }

    /// The metadata headers of every request: the access token when logged in.
    func accessHeaders() async throws -> [String: String] {
        guard let username else { return [:] }
        guard let password else { throw ValidationError("--username needs --password") }
        let (host, port) = try mainAddress()
        let admin = AdminHTTP(server: ServerAddress(host: host, port: port), timeout: 10, tls: try tlsConfiguration())
        return ["accessToken": try await admin.login(username: username, password: password).accessToken]
    }

    /// `--server`: the main port P.
    func mainAddress() throws -> (String, Int) {
        let parts = server.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...64535).contains(port) else {
            throw ValidationError("--server must be host:port (the main port, 1-64535), got '\(server)'")
        }
        return (String(parts[0]), port)
    }

    /// The SDK gRPC address the scenarios connect to: P + 1000, or `--grpc-port`.
    func hostAndPort() throws -> (String, Int) {
        let (host, port) = try mainAddress()
        return (host, grpcPort ?? port + 1000)
    }

    /// Opens `count` SDK connections, failing with a clear message if the server is not there.
    func connect(_ count: Int, group: any EventLoopGroup) async throws -> [NacosConnection] {
        let (host, port) = try hostAndPort()
        let tls = try tlsContext()
        var connections: [NacosConnection] = []
        do {
            for _ in 0..<count {
                connections.append(try await NacosConnection.connect(host: host, port: port, group: group, tls: tls))
            }
        } catch {
            for connection in connections { await connection.close() }
            throw BenchFailure(
                "cannot connect to \(host):\(port) (gRPC, --server \(server) + 1000) "
                    + "(opened \(connections.count) of \(count)): \(error)")
        }
        return connections
    }

    /// The server's user+system CPU time in seconds, from /proc/PID/stat.
    func serverCPUSeconds() -> Double? {
        guard let pid = serverPid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The server's resident memory in bytes, from /proc/PID/status.
    func serverRSSBytes() -> Double? {
        guard let pid = serverPid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    /// Prints the summary table and writes the JSON file. Failed operations make the scenario
    /// fail (exit 1) after the figures are shown: no throughput built on errors passes.
    func report(_ scenario: String, _ figures: [String: Double], errors: Int) throws {
        var figures = figures
        figures["errors"] = Double(errors)
        print("== \(scenario)")
        for key in figures.keys.sorted() {
            print(
                "  " + key.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%14.2f", figures[key]!))
        }
        if let json {
            var document: [String: Any] = ["scenario": scenario, "server": server]
            document["figures"] = figures
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        if errors > 0 {
            throw BenchFailure("\(scenario): \(errors) operation(s) failed; the figures above are not a valid result")
        }
    }
}

/// A scenario that could not run or whose operations failed: one line, exit code 1.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Shows a live line (rate, elapsed time, errors) on a terminal, once a second.
struct Progress {
    private let task: Task<Void, Never>?

    init(_ label: String, done: @escaping @Sendable () -> (operations: Int, errors: Int)) {
        guard isatty(STDERR_FILENO) == 1 else {
            task = nil
            return
        }
        let start = ContinuousClock.now
        task = Task {
            var last = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let (operations, errors) = done()
                let elapsed = (ContinuousClock.now - start).seconds
                FileHandle.standardError.write(
                    Data(
                        "\r\(label): \(operations - last)/s, \(operations) done, \(errors) errors, \(Int(elapsed)) s   "
                            .utf8))
                last = operations
            }
        }
    }

    func finish() {
        guard let task else { return }
        task.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

/// State the load tasks of a scenario share (locals cannot be captured by concurrent tasks).
final class SharedState<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}
