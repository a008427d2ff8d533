import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar deregister`: removes an instance that no live connection holds.
struct Deregister: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove an instance registered over HTTP (heartbeat) or a persistent one.",
        discussion: """
            An instance registered by a gRPC SDK client belongs to that client's connection: only that \
            client can withdraw it, and it goes at once when the client disconnects. This verb says so \
            and exits 1 rather than pretend.
            """
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ServiceOptions
    @OptionGroup var address: InstanceAddressOptions

    func run() async throws {
        try await options.withClient { client in
            guard let instance = try await find(client) else {
                throw CLIFailure(
                    "no instance \(address.ip):\(address.port) (cluster \(address.cluster)) in \(target.groupedName)")
            }
            if !instance.ephemeral {
                try await client.deregisterInstance(instance, service: target.service, group: target.group)
            } else {
                let http = try await options.adminHTTP()
                let reply = try await http.call(
                    "DELETE", "/nacos/v1/ns/instance",
                    [
                        "serviceName": target.service, "groupName": target.group, "ip": address.ip,
                        "port": String(address.port),
                        "clusterName": address.cluster, "ephemeral": "true", "namespaceId": options.namespace,
                    ])
                let heldByConnection =
                    "\(instance.endpoint) in \(target.groupedName) is held by a live SDK connection; it goes when "
                    + "that client deregisters or disconnects"
                // The server refuses with 409; an older one answered 200 and left the instance.
                if reply.status == 409 { throw CLIFailure(heldByConnection) }
                guard reply.status == 200 else {
                    throw CLIFailure("the server refused: HTTP \(reply.status) \(reply.body)")
                }
                if try await find(client) != nil { throw CLIFailure(heldByConnection) }
            }
            say("deregistered \(instance.endpoint) from \(target.groupedName)")
        }
    }

    private func find(_ client: RegistrarClient) async throws -> ServiceInstance? {
        try await client.allInstances(service: target.service, group: target.group, clusters: [address.cluster])
            .first { $0.ip == address.ip && $0.port == address.port }
    }
}
