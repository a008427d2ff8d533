import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar instances SERVICE`: a table (or JSON) of a service's instances.
struct Instances: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the instances of a service.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ServiceOptions

    @Option(help: "Only instances of this cluster (repeatable).")
    var cluster: [String] = []

    @Flag(help: "Only healthy, enabled instances with weight > 0.")
    var healthyOnly = false

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    func run() async throws {
        let instances = try await options.withClient { client in
            let instances = try await client.allInstances(
                service: target.service, group: target.group, clusters: cluster, healthyOnly: healthyOnly)
            if instances.isEmpty, try await !client.allServiceNames(group: target.group).contains(target.service) {
                throw CLIFailure(
                    "no service \(target.groupedName) in namespace \(options.namespace.isEmpty ? "public" : options.namespace)"
                )
            }
            return instances
        }
        if json {
            say(try jsonText(instances.map(\.jsonObject)))
        } else if instances.isEmpty {
            say("(no instances)")
        } else {
            let rows = instances.map {
                [
                    $0.ip, "\($0.port)", formatWeight($0.weight), "\($0.healthy)", "\($0.enabled)", $0.clusterName,
                    $0.metadataText,
                ]
            }
            for line in table(
                header: ["IP", "PORT", "WEIGHT", "HEALTHY", "ENABLED", "CLUSTER", "METADATA"], rows: rows)
            { say(line) }
        }
    }
}

extension ServiceInstance {
    var jsonObject: [String: Any] {
        [
            "ip": ip, "port": port, "weight": weight, "healthy": healthy, "enabled": enabled, "ephemeral": ephemeral,
            "clusterName": clusterName, "metadata": metadata, "instanceId": instanceId,
        ]
    }
}

func formatWeight(_ weight: Double) -> String {
    weight == weight.rounded() ? String(format: "%.1f", weight) : String(weight)
}

/// Left-aligned columns, two spaces apart.
func table(header: [String], rows: [[String]]) -> [String] {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.indices.map { column in
            column == row.count - 1
                ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
}
