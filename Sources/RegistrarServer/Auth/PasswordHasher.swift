import HummingbirdBcrypt
import NIOPosix

/// bcrypt, off the event loops: one hash or check costs tens of milliseconds by design.
///
/// Threading: thread-safe; the work runs on NIO's shared blocking thread pool.
struct PasswordHasher: Sendable {
    let cost: UInt8

    func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Constant time in the password: bcrypt compares the whole hash it computed.
    func verify(_ password: String, against hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
