import ArgumentParser
import Foundation
import Logging
import RegistrarServer
import RegistrarTransport
import ServiceLifecycle

/// `registrar serve`: runs a node until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Registrar node.",
        usage: "registrar serve [--<key> <value>]...",
        discussion: """
            With no options it serves SDK clients on gRPC port 9848 (HTTP port 8848 + 1000) and keeps \
            data in ./data. Each setting below comes from its flag, else its REGISTRAR_* environment \
            variable, else a 'key = value' line of the config file (--config FILE or REGISTRAR_CONFIG), \
            else its default.

            \(ServeKey.usage)

            --config <file>    (env REGISTRAR_CONFIG)
            A file of 'key = value' lines, with the keys above (without their '--').
            """
    )

    /// Every setting goes to `ServeSettings`, which knows the keys and refuses unknown ones.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settings: [String] = []

    func run() async throws {
        var configuration = ServerConfiguration()
        let level: Logger.Level
        do {
            let settings = try await ServeSettings(
                arguments: self.settings, environment: ProcessInfo.processInfo.environment)
            try settings.apply(to: &configuration)
            level = try settings.logLevel()
        } catch let error as SettingsError {
            throw ValidationError(error.description)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "registrar")
        let descriptors = FileDescriptorLimit.raiseToHardLimit()
        // At most this many client connections, less the listeners, data files and peers; see
        // docs/operations.md ("Many connections") for what a 100k-connection node needs.
        logger.log(
            level: descriptors < 10_000 ? .warning : .info,
            "\(descriptors) file descriptors may be open (the hard ulimit -n): each client connection takes one")
        let server = RegistrarServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        do {
            try await group.run()
        } catch let error as StartupError {
            logger.critical("\(error.description)")
            throw ExitCode.failure
        }
    }
}
