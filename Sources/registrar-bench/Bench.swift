import ArgumentParser
import Foundation
import NIOPosix
import RegistrarClient
import RegistrarWire

/// `registrar-bench`: load generators that measure a running server over the project's own
/// gRPC layer. Figures go in docs/performance.md with the command that produced them. A separate
/// executable, so that the product binary (`registrar`) carries no load generator.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registrar-bench",
        abstract:
            "Measure a running server: transport ceiling, registrations, queries, push latency and fan-out, connection memory, reconnect storms.",
        subcommands: [
            HealthBench.self, RegisterBench.self, QueryBench.self, PushBench.self, ConnectionsBench.self,
            StormBench.self, ClusterBench.self, DurableBench.self, MetricsBench.self,
        ]
    )
}

/// Unary HealthCheckRequests: the transport ceiling the other figures compare to.
struct HealthBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "HealthCheckRequests per second over C connections, K in flight.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections.") var connections = 8
    @Option(help: "Requests in flight per connection.") var inFlight = 8
    @Option(help: "Total requests.") var requests = 100_000

    func run() async throws {
        let body = Array(#"{"headers":{}}"#.utf8)
        let load = ClosedLoop(target: target, connections: connections, inFlight: inFlight, requests: requests) {
            _, _, _ in ("HealthCheckRequest", body)
        }
        let (figures, errors) = try await load.run("health")
        try target.report("health: \(connections) connections x \(inFlight) in flight", figures, errors: errors)
    }
}

/// C connections register (and re-register) instances across S services, K in flight each.
struct RegisterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register", abstract: "Registrations per second, latency, server CPU per registration.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections.") var connections = 8
    @Option(help: "Requests in flight per connection.") var inFlight = 8
    @Option(help: "Services per lane to spread registrations over.") var services = 100
    @Option(help: "Total registrations.") var requests = 100_000
    @Flag(help: "Register persistent instances (PersistentInstanceRequest): each is on disk before it is acknowledged.")
    var persistent = false

    func run() async throws {
        let services = self.services
        let persistent = self.persistent
        let load = ClosedLoop(target: target, connections: connections, inFlight: inFlight, requests: requests) {
            n, index, lane in
            Self.registration(n, connection: index, lane: lane, services: services, persistent: persistent)
        }
        let (figures, errors) = try await load.run(persistent ? "persistent_registrations" : "registrations")
        let kind = persistent ? "register --persistent" : "register"
        try target.report(
            "\(kind): \(connections) connections x \(inFlight) in flight, \(services) services per lane", figures,
            errors: errors)
    }
}

extension RegisterBench {
    /// Registration `n` of a lane: each lane owns its services and every request is a real change.
    /// Ephemeral: every request moves a port. Persistent: a lane keeps one loopback ip:port per
    /// service (the server probes persistent instances) and every request changes its metadata.
    static func registration(_ n: Int, connection index: Int, lane: Int, services: Int, persistent: Bool)
        -> (String, [UInt8])
    {
        let service = "bench-\(index)-\(lane)-\(n % services)"
        let (ip, port, metadata) =
            persistent
            ? ("127.1.\(index % 256).\(lane % 256)", 20_000 + index % 1000, "\(n)")
            : ("10.0.\(index).\(lane)", 1 + n % 60000, "1")
        let json =
            #"{"type":"registerInstance","namespace":"public","groupName":"DEFAULT_GROUP","serviceName":"\#(service)","instance":{"ip":"\#(ip)","port":\#(port),"weight":1.0,"healthy":true,"enabled":true,"ephemeral":\#(!persistent),"clusterName":"DEFAULT","metadata":{"bench":"\#(metadata)"}}}"#
        return (persistent ? "PersistentInstanceRequest" : "InstanceRequest", Array(json.utf8))
    }
}

/// ServiceQueryRequests against a service with N instances.
struct QueryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Queries per second of a service with N instances.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections.") var connections = 8
    @Option(help: "Requests in flight per connection.") var inFlight = 8
    @Option(help: "Instances in the queried service.") var instances = 10
    @Option(help: "Total queries.") var requests = 100_000

    func run() async throws {
        let service = "bench-query-\(UUID().uuidString.prefix(8))"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let owner = try await target.connect(1, group: group)[0]
        let batch = BatchInstanceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "batchRegisterInstance",
            instances: (0..<instances).map {
                InstanceBody(
                    ip: "10.1.\($0 / 250).\($0 % 250)", port: 8080, weight: 1, healthy: true, enabled: true,
                    clusterName: "DEFAULT")
            })
        let registered = try JSONDecoder().decode(
            ResponseFields.self,
            from: try await owner.request("BatchInstanceRequest", batch, headers: try await target.accessHeaders()).json
        )
        guard registered.resultCode == 200 else {
            throw BenchFailure("could not register the queried service: \(registered.message ?? "?")")
        }
        let body = Array(
            #"{"namespace":"public","groupName":"DEFAULT_GROUP","serviceName":"\#(service)","cluster":"","healthyOnly":false,"udpPort":0}"#
                .utf8)
        let load = ClosedLoop(target: target, connections: connections, inFlight: inFlight, requests: requests) {
            _, _, _ in ("ServiceQueryRequest", body)
        }
        let result = try await load.run("queries")
        await owner.close()
        try await group.shutdownGracefully()
        try target.report(
            "query: \(instances) instances, \(connections) connections x \(inFlight) in flight", result.figures,
            errors: result.errors)
    }
}
