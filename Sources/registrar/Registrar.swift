import ArgumentParser

/// The `registrar` command: the server (`serve`) and, in time, operator verbs.
@main
struct Registrar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registrar",
        abstract: "A service registry that speaks the Nacos 2.x protocols.",
        subcommands: [Serve.self, Bench.self]
    )
}
