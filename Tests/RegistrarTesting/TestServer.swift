import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarClient
import RegistrarServer
import RegistrarWire

/// A real server on a loopback port chosen by the kernel, and helpers to talk to it.
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
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-test-\(UUID().uuidString)").path
        tune(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let server = RegistrarServer(configuration: configuration, logger: logger, group: group)
        try await server.start()
        return TestServer(server: server, port: server.grpcAddress!.port!, http: V1Client(port: server.httpAddress!.port!))
    }

    public func connect(autoAck: Bool = true, labels: [String: String] = ["source": "sdk", "module": "naming"]) async throws -> NacosConnection {
        try await NacosConnection.connect(host: "127.0.0.1", port: port, group: TestServer.group, labels: labels, autoAck: autoAck)
    }

    public func stop() async {
        await server.stop()
    }
}

extension NacosConnection {
    /// Registers one instance and returns the decoded response.
    @discardableResult
    public func register(_ service: String, ip: String, port: Int, group: String? = nil, metadata: [String: String]? = nil) async throws -> ResponseFields {
        let request = InstanceRequest(namespace: "public", serviceName: service, groupName: group ?? "DEFAULT_GROUP", type: "registerInstance",
                                      instance: InstanceBody(ip: ip, port: port, weight: 1.0, healthy: true, enabled: true, clusterName: "DEFAULT", metadata: metadata))
        return try decode(ResponseFields.self, try await self.request("InstanceRequest", request))
    }

    public func subscribe(_ service: String) async throws -> ServiceInfoMessage {
        let request = SubscribeServiceRequest(namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", subscribe: true)
        return try decode(ServiceInfoMessage.self, try await self.request("SubscribeServiceRequest", request))
    }

    public func query(_ service: String) async throws -> ServiceInfoMessage {
        let request = ServiceQueryRequest(namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP")
        return try decode(ServiceInfoMessage.self, try await self.request("ServiceQueryRequest", request))
    }

    /// Waits (bounded) for the next push of `service` whose hosts satisfy `predicate`.
    public func nextPush(of service: String, within timeout: Duration = .seconds(5), where predicate: @escaping @Sendable ([InstanceBody]) -> Bool) async throws -> ServiceInfoBody? {
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
public func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut()
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(_ timeout: Duration = .seconds(5), _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
