import Foundation
import NIOCore

/// Who must prove who they are.
public enum AuthMode: String, Sendable, CaseIterable {
    /// Every request needs a valid token, except login, admin initialisation and the probes.
    case on
    /// Like `on` once an admin password exists; until then only loopback peers are served
    /// (Redis's protected mode), so a fresh laptop install works and no deployment is open.
    case auto
    /// Nobody is asked: an explicit choice, logged as a warning at start.
    case off
}

/// The auth settings of a node.
public struct AuthConfiguration: Sendable {
    public var mode: AuthMode = .auto
    /// Lifetime of an issued token, in seconds (Nacos: 18000).
    public var tokenTTL: Int64 = 18_000
    /// The HMAC key of the tokens. Nil: `<data-dir>/token.secret`, made at first start.
    public var tokenSecret: [UInt8]?
    /// The first password of the `nacos` admin, used only while no admin exists
    /// (`REGISTRAR_ADMIN_PASSWORD` or `--admin-password-file`).
    public var initialAdminPassword: String?
    /// bcrypt's cost (log2 of the rounds); Nacos uses 10.
    public var bcryptCost: UInt8 = 10
    /// The wait after the first failures from one IP beyond the free ones; it doubles after each.
    public var loginBackoff: TimeAmount = .seconds(1)

    public init() {}

    /// A token secret must carry at least this many bytes of key.
    public static let minimumSecretBytes = 32

    /// Decodes a `--token-secret` (base64, at least 32 bytes).
    public static func parseSecret(_ text: String) throws(AuthSettingError) -> [UInt8] {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw AuthSettingError("token-secret must be base64 (for example the output of `openssl rand -base64 32`)")
        }
        guard bytes.count >= minimumSecretBytes else {
            throw AuthSettingError(
                "token-secret is \(bytes.count) bytes; it must be at least \(minimumSecretBytes) (`openssl rand -base64 32`)"
            )
        }
        return Array(bytes)
    }
}

public struct AuthSettingError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The token secret of a node that was given none: 32 random bytes in `<data-dir>/token.secret`
/// (mode 0600), made at first start and read at every later one. Two data directories never
/// share one, so a token from one node is refused by another unless they are given the same
/// `--token-secret`.
enum TokenSecretFile {
    static let fileName = "token.secret"

    static func loadOrCreate(directory: String) throws -> [UInt8] {
        let path = (directory as NSString).appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: path) {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw StartupError("cannot read the token secret '\(path)': \(error.localizedDescription)")
            }
            do {
                return try AuthConfiguration.parseSecret(text)
            } catch {
                throw StartupError(
                    "the token secret '\(path)' is unusable: \(error). Remove it to make a new one "
                        + "(every issued token then stops working)")
            }
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<AuthConfiguration.minimumSecretBytes).map { _ in UInt8.random(in: 0...255, using: &generator)
        }
        let created = FileManager.default.createFile(
            atPath: path, contents: Data((Data(secret).base64EncodedString() + "\n").utf8),
            attributes: [.posixPermissions: 0o600])
        guard created else {
            throw StartupError("cannot create the token secret '\(path)' (is the data directory writable?)")
        }
        return secret
    }
}
