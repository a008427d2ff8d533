import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar register`: holds a registration until Ctrl-C, then withdraws it.
struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register an instance and hold it until Ctrl-C (or SIGTERM), then deregister it.",
        discussion:
            "The instance lives as long as this process's connection, like any SDK client's: if the server restarts, it is registered again."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ServiceOptions
    @OptionGroup var address: InstanceAddressOptions

    @Option(help: "Weight for weighted selection.")
    var weight: Double = 1

    @Option(name: .customLong("meta"), help: ArgumentHelp("Metadata entry (repeatable).", valueName: "key=value"))
    var metadata: [String] = []

    func validate() throws {
        guard weight >= 0, weight <= 10_000 else { throw ValidationError("--weight must be between 0 and 10000") }
        _ = try parsedMetadata()
    }

    func parsedMetadata() throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in metadata {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--meta must be key=value, got '\(entry)'")
            }
            result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return result
    }

    func run() async throws {
        let instance = ServiceInstance(
            ip: address.ip, port: address.port, weight: weight, clusterName: address.cluster,
            metadata: try parsedMetadata())
        try await options.withClient { client in
            try await client.registerInstance(instance, service: target.service, group: target.group)
            say("registered \(instance.endpoint) in \(target.groupedName); holding until Ctrl-C")
            await untilInterrupted()
            try await client.deregisterInstance(instance, service: target.service, group: target.group)
            say("deregistered \(instance.endpoint) from \(target.groupedName)")
        }
    }
}

/// `--ip`, `--port` and `--cluster` of one instance.
struct InstanceAddressOptions: ParsableArguments {
    @Option(help: "The instance's IP address.")
    var ip: String

    @Option(help: "The instance's port (0-65535).")
    var port: Int

    @Option(help: "The instance's cluster.")
    var cluster: String = "DEFAULT"

    func validate() throws {
        guard !ip.isEmpty else { throw ValidationError("--ip must not be empty") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
    }
}
