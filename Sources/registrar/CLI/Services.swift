import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar services`: the service names of a namespace and group.
struct Services: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the services of a namespace and group.")

    @OptionGroup var options: ClientOptions

    @Option(help: "The group.")
    var group: String = RegistrarClient.defaultGroup

    @Flag(help: "Print JSON: {\"count\": N, \"services\": [...]}.")
    var json = false

    func run() async throws {
        let names = try await options.withClient { client in try await client.allServiceNames(group: group) }
        if json {
            say(try jsonText(["count": names.count, "services": names] as [String: Any]))
        } else {
            for name in names { say(name) }
        }
    }
}

extension RegistrarClient {
    /// Every service name of `group`, across pages (bounded: at most 1,000 pages of 1,000).
    func allServiceNames(group: String) async throws -> [String] {
        var names: [String] = []
        for page in 1...1000 {
            let list = try await listServices(group: group, pageNo: page, pageSize: 1000)
            names += list.names
            if list.names.isEmpty || names.count >= list.count { break }
        }
        return names.sorted()
    }
}

func jsonText(_ object: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}
