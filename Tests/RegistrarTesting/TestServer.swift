import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarServer
import RegistrarWire
import Synchronization
import Testing

/// A real server on a loopback port chosen by the kernel, and helpers to talk to it. The server
/// and its connections stop when the test ends (see `Teardown`).
public struct TestServer: Sendable {
    public static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    public let server: RegistrarServer
    public let port: Int
    /// The v1 HTTP front.
    public let http: V1Client

    public static func start(_ tune: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.grpcPortOverride = 0
        configuration.dataDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent("registrar-test-\(UUID().uuidString)").path
        tune(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let server = RegistrarServer(configuration: configuration, logger: logger, group: group)
        try await server.start()
        tearDownAfterTest { await server.stop() }
        return TestServer(
            server: server, port: server.grpcAddress!.port!, http: V1Client(port: server.httpAddress!.port!))
    }

    /// A raw SDK-style connection, closed when the test ends.
    public func connect(
        autoAck: Bool = true, labels: [String: String] = ["source": "sdk", "module": "naming"]
    ) async throws -> NacosConnection {
        let connection = try await NacosConnection.connect(
            host: "127.0.0.1", port: port, group: TestServer.group, labels: labels, autoAck: autoAck)
        tearDownAfterTest { await connection.close() }
        return connection
    }

    /// One counter of the operator metrics endpoint, e.g. `grpcConnectionCount`.
    public func metric(_ name: String, token: String? = nil) async throws -> Int? {
        let auth = token.map { [("accessToken", $0)] } ?? []
        return try await http.call("GET", "/nacos/v1/ns/operator/metrics", [("onlyStatus", "false")] + auth)
            .object[name] as? Int
    }

    public func stop() async {
        await server.stop()
    }
}

extension NacosConnection {
    /// Registers one instance and returns the decoded response.
    @discardableResult
    public func register(
        _ service: String, ip: String, port: Int, group: String? = nil, metadata: [String: String]? = nil
    ) async throws -> ResponseFields {
        let request = InstanceRequest(
            namespace: "public", serviceName: service, groupName: group ?? "DEFAULT_GROUP", type: "registerInstance",
            instance: InstanceBody(
                ip: ip, port: port, weight: 1.0, healthy: true, enabled: true, clusterName: "DEFAULT",
                metadata: metadata))
        return try decode(ResponseFields.self, try await self.request("InstanceRequest", request))
    }

    public func subscribe(_ service: String) async throws -> ServiceInfoMessage {
        let request = SubscribeServiceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", subscribe: true)
        return try decode(ServiceInfoMessage.self, try await self.request("SubscribeServiceRequest", request))
    }

    public func query(_ service: String) async throws -> ServiceInfoMessage {
        let request = ServiceQueryRequest(namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP")
        return try decode(ServiceInfoMessage.self, try await self.request("ServiceQueryRequest", request))
    }

    /// Waits (bounded) for the next push of `service` whose hosts satisfy `predicate`.
    public func nextPush(
        of service: String, within timeout: Duration = .seconds(5),
        where predicate: @escaping @Sendable ([InstanceBody]) -> Bool
    ) async throws -> ServiceInfoBody? {
        try await withTimeout(timeout) {
            for await request in self.serverRequests where request.message.type == "NotifySubscriberRequest" {
                let push = try JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json)
                if let info = push.serviceInfo, info.name == service, predicate(info.hosts ?? []) { return info }
            }
            return nil
        }
    }
}

public func decode<T: Decodable>(_ type: T.Type, _ message: WireMessage) throws -> T {
    try JSONDecoder().decode(T.self, from: message.json)
}

public struct TimedOut: Error {
    public init() {}
}

/// Runs `body`, giving up after `timeout` (every wait in these tests is bounded).
///
/// A task group would wait for a body that ignores cancellation (one blocked on a continuation
/// the server never resumes), so the body runs in a task of its own: on timeout it is cancelled
/// and left behind, and the test fails at once instead of hanging.
public func withTimeout<T: Sendable>(
    _ timeout: Duration, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Mutex<CheckedContinuation<T, Error>?>(nil)
    let resume = { @Sendable (result: Result<T, Error>) in
        outcome.withLock { $0.take() }?.resume(with: result)
    }
    var work: Task<Void, Never>?
    var timer: Task<Void, Never>?
    defer {
        work?.cancel()
        timer?.cancel()
    }
    return try await withCheckedThrowingContinuation { continuation in
        outcome.withLock { $0 = continuation }
        work = Task { resume(await Result(catching: body)) }
        timer = Task {
            if (try? await Task.sleep(for: timeout)) != nil { resume(.failure(TimedOut())) }
        }
    }
}

extension Result where Failure == Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(_ timeout: Duration = .seconds(5), _ condition: @escaping @Sendable () async throws -> Bool)
    async throws -> Bool
{
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
