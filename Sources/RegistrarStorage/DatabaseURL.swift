import Foundation

/// A PostgreSQL connection URL, `postgres://user:password@host:port/database?sslmode=…`, as
/// libpq reads it. `sslmode` is `disable`, `prefer` (libpq's default: TLS if the server offers
/// it, unverified), `require` (TLS, unverified) or `verify-full` (TLS, certificate and host name
/// verified, against `sslrootcert` if given, else the system's roots).
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable
        case prefer
        case require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// A PEM file of the CA certificates that `verify-full` trusts instead of the system's.
    public var rootCertificatePath: String?

    public init(_ text: String) throws(StorageError) {
        guard let url = URLComponents(string: text), let scheme = url.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw StorageError(
                "--database must be a URL like postgres://user:password@host:5432/registrar, got '\(Self.redacted(text))'"
            )
        }
        guard let host = url.host, !host.isEmpty else {
            throw StorageError("--database names no host: '\(Self.redacted(text))'")
        }
        guard let username = url.user, !username.isEmpty else {
            throw StorageError("--database names no user: '\(Self.redacted(text))' (postgres://USER:password@host/db)")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty else {
            throw StorageError("--database names no database: '\(Self.redacted(text))' (postgres://user@host/DATABASE)")
        }
        let query = Dictionary(
            (url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let mode = query["sslmode"] ?? TLSMode.prefer.rawValue
        guard let tlsMode = TLSMode(rawValue: mode) else {
            throw StorageError(
                "--database: sslmode '\(mode)' is not supported; use disable, prefer, require or verify-full")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? 5432
        self.username = username.removingPercentEncoding ?? username
        self.password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.tlsMode = tlsMode
        self.rootCertificatePath = query["sslrootcert"]
    }

    /// The URL without its password: safe for logs.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
    }

    private static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? "(unparsable)"
    }
}
