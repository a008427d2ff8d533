import ArgumentParser
import Foundation
import RegistrarClient

/// `registrar cluster`: the members a node knows and their state.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the cluster's members and their state.")

    @OptionGroup var options: ClientOptions

    @Flag(help: "Print the members as a JSON array.")
    var json = false

    private struct Nodes: Decodable {
        struct Member: Decodable {
            var ip: String
            var port: Int
            var state: String
            var extendInfo: [String: JSONValue]?
        }

        var data: [Member]
    }

    func run() async throws {
        let server = try options.httpServer
        let reply = try await options.adminHTTP().call("GET", "/nacos/v1/core/cluster/nodes")
        guard reply.status == 200 else {
            throw CLIFailure("\(server) answered HTTP \(reply.status): \(reply.body.prefix(200))")
        }
        guard let nodes = try? JSONDecoder().decode(Nodes.self, from: Data(reply.body.utf8)) else {
            throw CLIFailure("\(server) sent an unreadable member list: \(reply.body.prefix(200))")
        }
        if json {
            say(
                try jsonText(
                    nodes.data.map {
                        ["address": "\($0.ip):\($0.port)", "ip": $0.ip, "port": $0.port, "state": $0.state]
                            as [String: Any]
                    }))
            return
        }
        let rows = nodes.data.map { member in
            [
                "\(member.ip):\(member.port)", member.state, member.extendInfo?["version"]?.text ?? "-",
                member.extendInfo?["lastRefreshTime"]?.text ?? "-",
            ]
        }
        for line in table(header: ["ADDRESS", "STATE", "VERSION", "LAST-REFRESH"], rows: rows) { say(line) }
    }
}

/// A JSON scalar shown as text (member `extendInfo` values vary by server).
enum JSONValue: Decodable {
    case text(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            self = .text(string)
        } else if let number = try? container.decode(Int64.self) {
            self = .text(String(number))
        } else if let bool = try? container.decode(Bool.self) {
            self = .text(String(bool))
        } else {
            self = .other
        }
    }

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }
}
