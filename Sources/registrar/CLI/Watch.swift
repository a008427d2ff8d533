import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar watch SERVICE`: one line per change, live, until Ctrl-C.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream a service's changes live: one line per added (+), removed (-) or changed (~) instance."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ServiceOptions

    @Option(help: "Only instances of this cluster (repeatable).")
    var cluster: [String] = []

    func run() async throws {
        try await options.withClient { client in
            let updates = try await client.subscribe(service: target.service, group: target.group, clusters: cluster)
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    var known: [String: ServiceInstance]?
                    for await info in updates {
                        if known == nil { say("watching \(target.groupedName): \(info.instances.count) instance(s)") }
                        let current = Dictionary(
                            info.instances.map { ($0.watchKey, $0) }, uniquingKeysWith: { first, _ in first })
                        for line in WatchDiff.lines(from: known ?? [:], to: current) {
                            say("\(WatchDiff.timestamp()) \(line)")
                        }
                        known = current
                    }
                }
                tasks.addTask { await untilInterrupted() }
                await tasks.next()
                tasks.cancelAll()
            }
        }
    }
}

/// How `watch` words a change.
enum WatchDiff {
    static func lines(from old: [String: ServiceInstance], to new: [String: ServiceInstance]) -> [String] {
        var lines: [String] = []
        for key in new.keys.sorted() {
            guard let after = new[key] else { continue }
            if let before = old[key] {
                let changes = changes(before, after)
                if !changes.isEmpty { lines.append("~ \(after.endpoint) " + changes.joined(separator: ", ")) }
            } else {
                lines.append("+ \(describe(after))")
            }
        }
        for key in old.keys.sorted() where new[key] == nil {
            lines.append("- \(describe(old[key]!))")
        }
        return lines
    }

    static func describe(_ instance: ServiceInstance) -> String {
        "\(instance.endpoint) cluster=\(instance.clusterName) weight=\(formatWeight(instance.weight)) healthy=\(instance.healthy) enabled=\(instance.enabled) metadata=\(instance.metadataText)"
    }

    private static func changes(_ before: ServiceInstance, _ after: ServiceInstance) -> [String] {
        var changes: [String] = []
        if before.healthy != after.healthy { changes.append("healthy: \(before.healthy)→\(after.healthy)") }
        if before.enabled != after.enabled { changes.append("enabled: \(before.enabled)→\(after.enabled)") }
        if before.weight != after.weight {
            changes.append("weight: \(formatWeight(before.weight))→\(formatWeight(after.weight))")
        }
        if before.metadata != after.metadata {
            changes.append("metadata: \(before.metadataText)→\(after.metadataText)")
        }
        return changes
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

extension ServiceInstance {
    /// ip:port#cluster: what identifies an instance across updates.
    var watchKey: String { "\(endpoint)#\(clusterName)" }
}
