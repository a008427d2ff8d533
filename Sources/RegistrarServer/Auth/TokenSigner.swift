import Crypto
import Foundation

/// Access tokens: JWTs signed with HMAC-SHA256 (HS256), as Nacos issues them, carrying the
/// username (`sub`) and the expiry (`exp`, Unix seconds).
///
/// Written on swift-crypto rather than a JWT library because a token is checked on every SDK
/// request, on the connection's event loop: this is synchronous, allocates little, and accepts
/// exactly one header (ours), so `alg: none` and algorithm-confusion tokens never get as far as
/// a signature check. The signature is compared in constant time by `HMAC.isValidAuthenticationCode`.
///
/// Threading: a value; thread-safe.
struct TokenSigner: Sendable {
    /// `{"alg":"HS256","typ":"JWT"}`, base64url: the only header a token may have.
    static let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    /// The key's bytes: swift-crypto's `SymmetricKey` is not `Sendable`, so one is made per use.
    private let secret: [UInt8]

    /// `secret` must be at least 32 bytes (checked where it is loaded).
    init(secret: [UInt8]) {
        self.secret = secret
    }

    private var key: SymmetricKey { SymmetricKey(data: secret) }

    func issue(username: String, expiresAt: Int64) -> String {
        struct Claims: Encodable {
            var sub: String
            var exp: Int64
        }
        let claims = (try? JSONEncoder().encode(Claims(sub: username, exp: expiresAt))) ?? Data()
        let signingInput = Self.header + "." + Base64URL.encode(Array(claims))
        let signature = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return signingInput + "." + Base64URL.encode(Array(signature))
    }

    /// The username and expiry of a token this signer issued that has not expired at `now`.
    func verify(_ token: String, now: Int64) throws(TokenRefusal) -> VerifiedToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.header else { throw .malformed }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed }
        let signingInput = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(signingInput), using: key)
        else { throw .badSignature }
        struct Claims: Decodable {
            var sub: String
            var exp: Int64
        }
        guard let payload = Base64URL.decode(parts[1]),
            let claims = try? JSONDecoder().decode(Claims.self, from: Data(payload))
        else { throw .malformed }
        guard claims.exp > now else { throw .expired }
        return VerifiedToken(username: claims.sub, expiresAt: claims.exp)
    }
}

struct VerifiedToken: Sendable, Equatable {
    var username: String
    var expiresAt: Int64
}

/// Why a token was not accepted, in words a client's log can show.
enum TokenRefusal: Error, Equatable, CustomStringConvertible {
    case malformed, badSignature, expired

    var description: String {
        switch self {
        case .malformed: "the access token is not a token this server issued"
        case .badSignature: "the access token's signature is invalid (issued by another server, or altered)"
        case .expired: "the access token has expired; log in again"
        }
    }
}

/// Base64 with the URL alphabet and no padding (RFC 7515 §2).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "=") })
        else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }
}
