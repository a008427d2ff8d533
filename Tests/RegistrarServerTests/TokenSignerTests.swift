import Foundation
import Testing

@testable import RegistrarServer

@Suite("Access tokens (HS256)")
struct TokenSignerTests {
    private let signer = TokenSigner(secret: Array(repeating: 7, count: 32))
    private let now: Int64 = 1_800_000_000

    @Test func aTokenVerifiesUntilItExpires() throws {
        let token = signer.issue(username: "ann", expiresAt: now + 60)
        #expect(try signer.verify(token, now: now) == VerifiedToken(username: "ann", expiresAt: now + 60))
        #expect(throws: TokenRefusal.expired) { try signer.verify(token, now: now + 60) }
    }

    @Test func anotherSecretOrAnAlteredTokenIsRefused() throws {
        let token = signer.issue(username: "ann", expiresAt: now + 60)
        let stranger = TokenSigner(secret: Array(repeating: 8, count: 32))
        #expect(throws: TokenRefusal.badSignature) { try stranger.verify(token, now: now) }
        // The payload says "admin" now, under the old signature.
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(Array(#"{"sub":"nacos","exp":1900000000}"#.utf8))
        #expect(throws: TokenRefusal.badSignature) { try signer.verify(parts.joined(separator: "."), now: now) }
        // One flipped character of the signature.
        var signature = Array(token.split(separator: ".")[2])
        signature[0] = signature[0] == "A" ? "B" : "A"
        let flipped = token.split(separator: ".")[0...1].joined(separator: ".") + "." + String(signature)
        #expect(throws: TokenRefusal.badSignature) { try signer.verify(flipped, now: now) }
    }

    @Test func unsignedOrForeignHeadersNeverReachTheSignatureCheck() {
        let claims = Base64URL.encode(Array(#"{"sub":"nacos","exp":1900000000}"#.utf8))
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(throws: TokenRefusal.malformed) { try signer.verify("\(none).\(claims).", now: now) }
        #expect(throws: TokenRefusal.malformed) { try signer.verify("\(none).\(claims)", now: now) }
        #expect(throws: TokenRefusal.malformed) { try signer.verify("not a token", now: now) }
        #expect(throws: TokenRefusal.malformed) { try signer.verify("", now: now) }
    }
}
