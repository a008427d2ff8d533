import Foundation
import Logging
import RegistrarClient
import RegistrarTesting
import Synchronization

/// Builds SDK clients for tests: short timeouts and backoff so that failures show quickly.
enum SDK {
    static func client(_ ports: [Int], cacheDirectory: String? = nil, requestTimeout: Duration = .seconds(3)) throws
        -> RegistrarClient
    {
        var configuration = RegistrarClient.Configuration(
            servers: ports.map { ServerAddress(host: "127.0.0.1", port: $0) })
        // Test servers listen on kernel-chosen gRPC ports, given directly.
        configuration.grpcPortOffset = 0
        configuration.requestTimeout = requestTimeout
        configuration.connectTimeout = .seconds(1)
        configuration.maximumBackoff = .milliseconds(500)
        configuration.cacheDirectory = cacheDirectory
        var logger = Logger(label: "test-sdk")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return try RegistrarClient(configuration: configuration, logger: logger)
    }
}

/// Consumes a subscription stream in the background and keeps every update, so tests can wait
/// (bounded) for one that matches.
final class UpdateCollector: Sendable {
    private final class Updates: Sendable {
        let list = Mutex<[ServiceInfo]>([])
    }

    private let updates = Updates()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<ServiceInfo>) {
        let updates = self.updates
        task = Task {
            for await update in stream { updates.list.withLock { $0.append(update) } }
        }
    }

    var all: [ServiceInfo] { updates.list.withLock { $0 } }

    /// Waits until some update's endpoints are exactly `endpoints` (as "ip:port").
    func waitFor(_ endpoints: Set<String>, within timeout: Duration = .seconds(5)) async throws -> Bool {
        try await eventually(timeout) {
            self.all.contains { Set($0.instances.map { "\($0.ip):\($0.port)" }) == endpoints }
        }
    }

    /// Whether the latest update shows exactly `endpoints`.
    func latestIs(_ endpoints: Set<String>) -> Bool {
        all.last.map { Set($0.instances.map { "\($0.ip):\($0.port)" }) == endpoints } ?? false
    }

    func stop() { task.cancel() }
}

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("registrar-sdk-\(UUID().uuidString)").path
}
