import ArgumentParser
import Foundation
import NIOPosix

/// The `registrar` command: the server (`serve`), and the operator verbs over the Swift SDK
/// (the load generator is the separate `registrar-bench`).
@main
struct Registrar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registrar",
        abstract: "A service registry that speaks the Nacos 2.x protocols.",
        subcommands: [
            Serve.self, Services.self, Instances.self, Register.self, Deregister.self, Watch.self, Cluster.self,
            Database.self,
        ]
    )

    /// Runs the chosen verb. Any failure is one `Error: ...` line on stderr and a non-zero exit
    /// (64 for bad usage, 1 otherwise); `--help` still prints the full help.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            // An ExitCode thrown after the cause was already logged carries no message.
            if let message = message(for: error).split(separator: "\n").first {
                FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
