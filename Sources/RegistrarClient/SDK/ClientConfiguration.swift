import Foundation
import NIOSSL

/// One server in the client's list: the main (HTTP) address, as Nacos clients write it.
/// The gRPC port is the main port plus `RegistrarClient.Configuration.grpcPortOffset`.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port[,host:port...]`. A missing port means 8848.
    public static func parseList(_ text: String) throws(RegistrarClientError) -> [ServerAddress] {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !entries.isEmpty else { throw .invalidArgument("no server given (expected host:port[,host:port])") }
        return try entries.map { entry throws(RegistrarClientError) in
            let (host, portText): (Substring, Substring?) = {
                // [::1]:8848 for IPv6 literals.
                if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
                    let rest = entry[entry.index(after: close)...]
                    return (
                        entry[entry.index(after: entry.startIndex)..<close],
                        rest.hasPrefix(":") ? rest.dropFirst() : nil
                    )
                }
                let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
                return parts.count == 2 ? (parts[0], parts[1]) : (Substring(entry), nil)
            }()
            guard !host.isEmpty else { throw .invalidArgument("bad server address '\(entry)': no host") }
            guard let portText else { return ServerAddress(host: String(host), port: 8848) }
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw .invalidArgument("bad server address '\(entry)': the port must be 1-65535")
            }
            return ServerAddress(host: String(host), port: port)
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension RegistrarClient {
    /// How a client connects, retries and caches. The defaults suit a production app.
    public struct Configuration: Sendable {
        /// Servers to use, in order of preference; the client fails over to the next one.
        public var servers: [ServerAddress]
        /// The namespace (tenant) every call uses; empty means `public`.
        public var namespace: String = ""
        /// The namespace as sent: Nacos's naming default is the id `public` (Java sends it too);
        /// a literal `""` would name a different namespace on some Nacos versions.
        var namespaceID: String { namespace.isEmpty ? "public" : namespace }
        /// Added to a server's main port to reach its SDK gRPC port (Nacos's convention).
        public var grpcPortOffset: Int = 1000
        /// How long one call may take, waiting for a connection included.
        public var requestTimeout: Duration = .seconds(3)
        /// How long each step of a connection attempt (TCP connect, ServerCheck, SetupAck) may take.
        public var connectTimeout: Duration = .seconds(3)
        /// First reconnect delay; it doubles per failed attempt, with jitter, up to `maximumBackoff`.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(2)
        /// A connection that saw no traffic for this long is probed with a HealthCheckRequest.
        public var healthCheckInterval: Duration = .seconds(5)
        /// Where the last known ServiceInfo of each service is kept on disk, so reads work while
        /// no server is reachable, even across restarts. Nil keeps the cache in memory only.
        public var cacheDirectory: String?
        /// Sent as the client version in ConnectionSetupRequest.
        public var clientVersion: String = "Registrar-Swift-Client:0.3.0"
        /// Credentials for a server with auth: the client logs in over HTTP and sends the token
        /// with every call, logging in again when it nears expiry or is refused.
        public var username: String?
        public var password: String?
        /// TLS (see `tls(trusting:)`) for both ports the client uses: the SDK port (gRPC, ALPN
        /// h2) and, for logins, the main HTTP port; nil: cleartext.
        public var tls: TLSConfiguration?

        public init(servers: [ServerAddress]) {
            self.servers = servers
        }

        /// TLS that trusts the PEM CA at `caPath`, optionally presenting a client certificate
        /// (mutual TLS). Reads the files now, so a bad one fails here with its error.
        public static func tls(
            trusting caPath: String, certificate: String? = nil, privateKey: String? = nil
        ) throws -> TLSConfiguration {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
            tls.minimumTLSVersion = .tlsv12
            if let certificate, let privateKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
            }
            return tls
        }

        /// The gRPC side of a client TLS configuration: the same trust and certificate, with
        /// ALPN h2 (for `NacosConnection`).
        public static func grpcContext(_ tls: TLSConfiguration) throws -> NIOSSLContext {
            var grpc = tls
            grpc.applicationProtocols = ["h2"]
            return try NIOSSLContext(configuration: grpc)
        }

        /// `grpcContext` of `tls`, if set.
        func grpcTLSContext() throws(RegistrarClientError) -> NIOSSLContext? {
            guard let tls else { return nil }
            do {
                return try Self.grpcContext(tls)
            } catch {
                throw .invalidArgument("cannot set up TLS: \(error)")
            }
        }

        /// Parses `host:port[,host:port...]` (see `ServerAddress.parseList`).
        public init(servers: String) throws(RegistrarClientError) {
            self.servers = try ServerAddress.parseList(servers)
        }
    }
}

/// Why a client call failed. Every case carries a message fit for a log line or a CLI.
public enum RegistrarClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No server could be reached (or none answered) within the timeout.
    case unavailable(String)
    /// The server refused the request: its error code and message.
    case server(code: Int, message: String)
    /// The caller passed something the client will not send.
    case invalidArgument(String)
    /// The server's answer could not be read.
    case badResponse(String)
    /// `selectHealthy` found nothing to route to.
    case noHealthyInstance(String)
    /// The client was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .unavailable(let detail): "server unavailable: \(detail)"
        case .server(let code, let message): "server error \(code): \(message)"
        case .invalidArgument(let detail): "invalid argument: \(detail)"
        case .badResponse(let detail): "bad response from server: \(detail)"
        case .noHealthyInstance(let service): "no healthy instance of \(service)"
        case .shutDown: "the client was shut down"
        }
    }
}
