import NIOSSL

/// TLS for the SDK gRPC port and the HTTP port: one certificate chain and key (PEM), and, with a
/// client CA, mutual TLS (clients must present a certificate that CA signed).
public struct TLSSettings: Sendable {
    public var certificateChainPath: String
    public var privateKeyPath: String
    public var clientCAPath: String?
    /// `optional` mode: plaintext is accepted too, on the same ports (for a migration).
    public var acceptsPlaintext: Bool

    public init(
        certificateChainPath: String, privateKeyPath: String, clientCAPath: String? = nil,
        acceptsPlaintext: Bool = false
    ) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.clientCAPath = clientCAPath
        self.acceptsPlaintext = acceptsPlaintext
    }

    /// The server configuration with `alpn` (`h2` for gRPC, `http/1.1` for HTTP). Reads the
    /// files now, so a missing or bad file stops the start with its name.
    func serverConfiguration(alpn: [String]) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
        } catch {
            throw StartupError("cannot read the TLS certificate '\(certificateChainPath)' (PEM): \(error)")
        }
        guard !chain.isEmpty else { throw StartupError("the TLS certificate '\(certificateChainPath)' holds none") }
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw StartupError("cannot read the TLS private key '\(privateKeyPath)' (PEM): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.applicationProtocols = alpn
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAPath {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAPath))
            } catch {
                throw StartupError("cannot read the TLS client CA '\(clientCAPath)' (PEM): \(error)")
            }
            // Clients are identified by the CA's signature, not by a host name.
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    func serverContext(alpn: [String]) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: serverConfiguration(alpn: alpn))
        } catch let error as StartupError {
            throw error
        } catch {
            throw StartupError("cannot set up TLS with '\(certificateChainPath)' and '\(privateKeyPath)': \(error)")
        }
    }
}

/// TLS between cluster members: each presents `certificateChainPath` and accepts only peers
/// whose certificate `caPath` signed, both ways (mutual TLS). The CA is the cluster's own trust
/// anchor, so host names are not checked (members are addressed by IP and port).
public struct PeerTLSSettings: Sendable {
    public var certificateChainPath: String
    public var privateKeyPath: String
    public var caPath: String

    public init(certificateChainPath: String, privateKeyPath: String, caPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.caPath = caPath
    }

    /// The server and client sides, made once at start.
    func contexts() throws -> PeerTLSContexts {
        let own = TLSSettings(
            certificateChainPath: certificateChainPath, privateKeyPath: privateKeyPath, clientCAPath: caPath)
        let server = try own.serverConfiguration(alpn: ["h2"])
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = server.certificateChain
        client.privateKey = server.privateKey
        client.trustRoots = server.trustRoots
        client.certificateVerification = .noHostnameVerification
        client.applicationProtocols = ["h2"]
        client.minimumTLSVersion = .tlsv12
        do {
            return PeerTLSContexts(
                server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client),
                clientConfiguration: client)
        } catch {
            throw StartupError("cannot set up peer TLS with '\(certificateChainPath)' and '\(caPath)': \(error)")
        }
    }
}

struct PeerTLSContexts: Sendable {
    let server: NIOSSLContext
    let client: NIOSSLContext
    /// What `client` was made from: v1 forwarding presents the same certificate to a member's
    /// https port and trusts the same CA.
    let clientConfiguration: TLSConfiguration
}
