import ArgumentParser
import Foundation
import Logging
import NIOSSL
import RegistrarClient
import Synchronization
import UnixSignals

/// Options every operator verb shares: where the servers are and how long to wait.
struct ClientOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Servers as host:port[,host:port] (main/HTTP port; gRPC is port+1000). Default: $REGISTRAR_SERVER, else 127.0.0.1:8848.",
            valueName: "host:port"))
    var server: String?

    @Option(help: "Namespace (default public).")
    var namespace: String = ""

    @Option(help: "Seconds to wait for a server on each call.")
    var timeout: Double = 3

    @Flag(help: "Log the client's connection events on stderr.")
    var verbose = false

    @Option(help: "Log in as this user (or $REGISTRAR_USERNAME); the password comes from $REGISTRAR_PASSWORD.")
    var username: String?

    @Option(name: .customLong("tls-ca"), help: "Speak TLS (gRPC and HTTP), trusting this PEM CA.")
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: "With --tls-ca: present this PEM client certificate (mutual TLS).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    var serverList: String {
        server ?? ProcessInfo.processInfo.environment["REGISTRAR_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "127.0.0.1:8848"
    }

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be between 0 and 600 seconds") }
        do { _ = try ServerAddress.parseList(serverList) } catch { throw ValidationError(error.description) }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsCert == nil || tlsCA != nil else { throw ValidationError("--tls-cert needs --tls-ca") }
    }

    /// The TLS of both the SDK port and the HTTP calls, with `--tls-ca`.
    private func tlsConfiguration() throws -> TLSConfiguration? {
        guard let tlsCA else { return nil }
        do {
            return try RegistrarClient.Configuration.tls(trusting: tlsCA, certificate: tlsCert, privateKey: tlsKey)
        } catch {
            throw ValidationError(
                "cannot use --tls-ca '\(tlsCA)'\(tlsCert.map { " with --tls-cert '\($0)'" } ?? ""): \(error)")
        }
    }

    /// The first server's main address, for the few calls that go over HTTP.
    var httpServer: ServerAddress {
        get throws { try ServerAddress.parseList(serverList)[0] }
    }

    /// The user to log in as, with its password from the environment; nil: no login. A user
    /// without a password is an error, never an empty password.
    private func credentials() throws -> (username: String, password: String)? {
        let environment = ProcessInfo.processInfo.environment
        guard let username = username ?? environment["REGISTRAR_USERNAME"].flatMap({ $0.isEmpty ? nil : $0 })
        else { return nil }
        guard let password = environment["REGISTRAR_PASSWORD"] else {
            throw ValidationError("logging in as '\(username)' needs its password in REGISTRAR_PASSWORD")
        }
        return (username, password)
    }

    /// The Open API on the first server, logged in when the options carry a username.
    func adminHTTP() async throws -> AdminHTTP {
        var http = AdminHTTP(server: try httpServer, timeout: timeout, tls: try tlsConfiguration())
        if let credentials = try credentials() {
            do {
                http.accessToken = try await http.login(username: credentials.username, password: credentials.password)
                    .accessToken
            } catch let refused as AdminHTTP.LoginRefused {
                throw CLIFailure("login as '\(credentials.username)' refused: \(refused)")
            }
        }
        return http
    }

    /// A client configured from the options. Logging goes to stderr: connection events (info)
    /// with `--verbose`, otherwise only errors, so that a failed verb prints one line.
    func makeClient() throws -> RegistrarClient {
        CLILogging.bootstrap(verbose: verbose)
        var configuration = try RegistrarClient.Configuration(servers: serverList)
        configuration.namespace = namespace
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        configuration.connectTimeout = min(configuration.connectTimeout, configuration.requestTimeout)
        // The password never comes from a flag, which every user of the machine can read in `ps`.
        let credentials = try credentials()
        configuration.username = credentials?.username
        configuration.password = credentials?.password
        configuration.tls = try tlsConfiguration()
        return try RegistrarClient(configuration: configuration, logger: Logger(label: "registrar.cli"))
    }

    /// Runs `body` with a client and always shuts the client down.
    func withClient<T>(_ body: (RegistrarClient) async throws -> T) async throws -> T {
        let client = try makeClient()
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

/// Options naming one service.
struct ServiceOptions: ParsableArguments {
    @Argument(help: "The service name.")
    var service: String

    @Option(help: "The group.")
    var group: String = RegistrarClient.defaultGroup

    var groupedName: String { "\(group)@@\(service)" }
}

enum CLILogging {
    private static let bootstrapped = Mutex(false)

    /// Once per process, as swift-log requires.
    static func bootstrap(verbose: Bool) {
        guard
            bootstrapped.withLock({ done in
                defer { done = true }; return !done
            })
        else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .info : .error
            return handler
        }
    }
}

/// Prints a line and flushes at once: scripts and tests read our output through pipes.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
func untilInterrupted() async {
    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return }
}

/// A failed verb: `Registrar.main` prints it as one `Error: ...` line, exit code 1.
struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ServiceInstance {
    var endpoint: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
    var metadataText: String {
        "{" + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    }
}
