import Foundation
import HummingbirdBcrypt
import Logging
import RegistrarCore
import RegistrarStorage
import Synchronization

/// What a request needs before it is served.
enum AccessNeed: Sendable, Equatable {
    /// Probes, login, admin initialisation: served to anyone.
    case nothing
    /// Any logged-in user.
    case authenticated
    /// `r` or `w` on a naming resource.
    case naming(NamingResource, AccessAction)
    /// `ROLE_ADMIN`.
    case admin
}

/// The outcome of an access check.
enum AccessDecision: Sendable, Equatable {
    /// Served; `username` is nil when no identity was needed or asked for.
    case allowed(username: String?)
    /// Refused with HTTP 403 (or errorCode 403 on gRPC), and why.
    case refused(String)
}

/// Authentication and authorisation of a node: the access model (users, roles, permissions)
/// behind a lock, the token signer, and the mode. Both fronts ask it; it never looks at
/// `User-Agent` or any other header a client chooses, only at the token and the peer address.
///
/// Changes are written to the durable store first and applied in memory only once committed:
/// here at once with a single node's store, or by the `DurableFollower` (in change-log order,
/// on every member) with a shared one.
///
/// Threading: thread-safe.
final class AccessControl: Sendable {
    let mode: AuthMode
    let tokenTTL: Int64
    private let model: Mutex<AccessModel>
    private let signer: TokenSigner
    private let hasher: PasswordHasher
    private let store: any DurableStore
    /// With a shared store: where the follower has applied the change log to.
    private let cursor: ChangeLogCursor?
    private let throttle: LoginThrottle
    /// Set in cluster mode without a shared store: the access model cannot be replicated.
    private let writeRefusal: String?
    private let logger: Logger

    static let protectedModeMessage =
        "Registrar is in protected mode: no admin password is set, so only clients on this host (loopback) "
        + "are served. Set the password of the admin user 'nacos' with REGISTRAR_ADMIN_PASSWORD or "
        + "--admin-password-file at start, or POST /nacos/v3/auth/user/admin from this host; "
        + "or start with --auth off to serve every client without auth (not recommended)."

    init(
        configuration: AuthConfiguration, secret: [UInt8], model: AccessModel, store: any DurableStore,
        cursor: ChangeLogCursor?, writeRefusal: String?, logger: Logger
    ) {
        self.mode = configuration.mode
        self.tokenTTL = configuration.tokenTTL
        self.model = Mutex(model)
        self.adminExists = Atomic(model.hasAdmin)
        self.signer = TokenSigner(secret: secret)
        self.hasher = PasswordHasher(cost: configuration.bcryptCost)
        self.throttle = LoginThrottle(firstDelayMillis: configuration.loginBackoff.nanoseconds / 1_000_000)
        self.store = store
        self.cursor = cursor
        self.writeRefusal = writeRefusal
        self.logger = logger
    }

    var snapshot: AccessModel { model.withLock { $0 } }
    /// Kept with every change of the model: read on every request in `auto` mode.
    private let adminExists: Atomic<Bool>
    var hasAdmin: Bool { adminExists.load(ordering: .acquiring) }

    /// Whether requests must carry a token: `on`, or `auto` once an admin exists.
    var tokensRequired: Bool { mode == .on || (mode == .auto && hasAdmin) }

    /// A peer on this host: the one kind protected mode serves.
    static func isLoopback(_ ip: String?) -> Bool {
        guard let ip else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    // MARK: Checks

    /// The last token a connection presented and what it proved, so that an SDK connection,
    /// which sends the same token with every request, pays for one signature check per token.
    struct TokenCache: Sendable {
        var token: String
        var verified: VerifiedToken
    }

    /// Whether a request with `token` from a peer (loopback or not) may have `need`.
    func check(_ need: AccessNeed, token: String?, peerIsLoopback: Bool, now: Int64) -> AccessDecision {
        var cache: TokenCache?
        return check(need, token: token, peerIsLoopback: peerIsLoopback, now: now, cache: &cache)
    }

    /// As above, reusing `cache` when the token is the one it holds and has not expired.
    func check(
        _ need: AccessNeed, token: String?, peerIsLoopback: Bool, now: Int64, cache: inout TokenCache?
    ) -> AccessDecision {
        guard mode != .off, need != .nothing else { return .allowed(username: nil) }
        if mode == .auto, !hasAdmin {
            return peerIsLoopback ? .allowed(username: nil) : .refused(Self.protectedModeMessage)
        }
        guard let token, !token.isEmpty else {
            return .refused(
                "no access token: log in at /nacos/v1/auth/login (username, password) and send the "
                    + "accessToken it returns")
        }
        // The cached token was this connection's own; comparing the client's token with it
        // reveals nothing the client does not already hold.
        if let cached = cache, cached.token == token, cached.verified.expiresAt > now {
            return authorize(cached.verified.username, need)
        }
        do {
            let verified = try signer.verify(token, now: now)
            cache = TokenCache(token: token, verified: verified)
            return authorize(verified.username, need)
        } catch {
            cache = nil
            return .refused(error.description)
        }
    }

    /// The user's rights against `need`; the user must still exist.
    func authorize(_ username: String, _ need: AccessNeed) -> AccessDecision {
        model.withLock { model in
            guard model.users[username] != nil else {
                return .refused("user '\(username)' no longer exists")
            }
            switch need {
            case .nothing, .authenticated:
                return .allowed(username: username)
            case .admin:
                return model.isGlobalAdmin(username)
                    ? .allowed(username: username) : .refused("user '\(username)' is not an admin (ROLE_ADMIN)")
            case let .naming(resource, action):
                return model.allows(username, action, on: resource)
                    ? .allowed(username: username)
                    : .refused("user '\(username)' has no '\(action.rawValue)' permission on \(resource.text)")
            }
        }
    }

    // MARK: Login

    struct Login: Sendable {
        var accessToken: String
        var tokenTTL: Int64
        var username: String
        var globalAdmin: Bool
    }

    enum LoginFailure: Error, Equatable {
        /// Wrong username or password (deliberately not saying which).
        case invalidCredentials
        /// Too many failures from this IP; retry after this many milliseconds.
        case throttled(retryAfterMillis: Int64)
    }

    func login(username: String, password: String, from ip: String, now: Int64) async throws -> Login {
        let wait = throttle.waitMillis(for: ip, now: now * 1000)
        guard wait == 0 else {
            logger.warning("login refused: too many failures from \(ip)", metadata: ["username": "\(username)"])
            throw LoginFailure.throttled(retryAfterMillis: wait)
        }
        // A missing user is checked against a dummy hash, so both failures take as long.
        let stored = model.withLock { $0.users[username] }
        let matched = try await hasher.verify(password, against: stored ?? Self.dummyHash) && stored != nil
        guard matched else {
            throttle.failed(ip, now: now * 1000)
            logger.warning("login failed", metadata: ["username": "\(username)", "from": "\(ip)"])
            throw LoginFailure.invalidCredentials
        }
        throttle.succeeded(ip)
        let admin = model.withLock { $0.isGlobalAdmin(username) }
        let token = signer.issue(username: username, expiresAt: now + tokenTTL)
        return Login(accessToken: token, tokenTTL: tokenTTL, username: username, globalAdmin: admin)
    }

    /// A bcrypt hash of a random string, never a password of anyone.
    private static let dummyHash = Bcrypt.hash(UUID().uuidString, cost: 10)

    // MARK: Changes

    /// Creates the `nacos` admin with `password` if no admin exists yet; false if one does.
    /// `atStart`: the password of the configuration, which each member of a cluster is given
    /// alike, so it is written even where changes are otherwise refused (cluster mode).
    @discardableResult
    func initialiseAdmin(password: String, atStart: Bool = false) async throws(AccessError) -> Bool {
        guard !hasAdmin else { return false }
        try Self.checkPassword(password)
        let hash = try await hashed(password)
        try await commit(
            [
                .putUser(AccessModel.initialAdmin, passwordHash: hash),
                .bind(RoleBinding(role: AccessModel.adminRole, username: AccessModel.initialAdmin)),
            ], atStart: atStart)
        logger.notice("admin user '\(AccessModel.initialAdmin)' created; auth is now required of every client")
        return true
    }

    func createUser(_ username: String, password: String) async throws(AccessError) {
        try Self.checkName(username, "username")
        try Self.checkPassword(password)
        guard model.withLock({ $0.users[username] == nil }) else {
            throw AccessError("user '\(username)' already exists")
        }
        try await commit([.putUser(username, passwordHash: try await hashed(password))])
    }

    func changePassword(_ username: String, to password: String) async throws(AccessError) {
        try Self.checkPassword(password)
        guard model.withLock({ $0.users[username] != nil }) else { throw AccessError("user '\(username)' not exist!") }
        try await commit([.putUser(username, passwordHash: try await hashed(password))])
    }

    func deleteUser(_ username: String) async throws(AccessError) {
        guard model.withLock({ $0.users[username] != nil }) else { throw AccessError("user '\(username)' not exist!") }
        let lastAdmin = model.withLock { model in
            model.isGlobalAdmin(username) && model.roles.filter { $0.role == AccessModel.adminRole }.count == 1
        }
        guard !lastAdmin else { throw AccessError("cannot delete '\(username)': it is the only admin") }
        try await commit([.deleteUser(username)])
    }

    func bind(role: String, to username: String) async throws(AccessError) {
        try Self.checkName(role, "role")
        guard model.withLock({ $0.users[username] != nil }) else { throw AccessError("user '\(username)' not exist!") }
        try await commit([.bind(RoleBinding(role: role, username: username))])
    }

    func unbind(role: String, from username: String?) async throws(AccessError) {
        if role == AccessModel.adminRole {
            let admins = model.withLock { $0.roles.filter { $0.role == AccessModel.adminRole }.map(\.username) }
            guard let username, admins.count > 1 || !admins.contains(username) else {
                throw AccessError("cannot remove the last admin (ROLE_ADMIN)")
            }
        }
        try await commit([.unbind(role: role, username: username)])
    }

    func grant(_ permission: Permission) async throws(AccessError) {
        try Self.checkPermission(permission)
        guard model.withLock({ $0.roles.contains { $0.role == permission.role } }) else {
            throw AccessError("role '\(permission.role)' not found: bind it to a user first")
        }
        try await commit([.grant(permission)])
    }

    func revoke(_ permission: Permission) async throws(AccessError) {
        try await commit([.revoke(permission)])
    }

    private func hashed(_ password: String) async throws(AccessError) -> String {
        do {
            return try await hasher.hash(password)
        } catch {
            throw AccessError("cannot hash the password: \(error)", code: 500)
        }
    }

    /// On disk first; in memory only once committed. `atStart`: the start-up admin, written even
    /// where changes are refused, and applied here at once (the change-log follower does not run
    /// yet, and nothing else writes on this member then; the follower's later apply repeats it).
    private func commit(_ changes: [AccessChange], atStart: Bool = false) async throws(AccessError) {
        if let writeRefusal, !atStart { throw AccessError(writeRefusal) }
        let position: Int64?
        do {
            position = try await store.commit(changes.map { .access($0) })
        } catch {
            throw AccessError(error.description, code: error.isUnavailable ? 503 : 500)
        }
        guard let cursor, let position, !atStart else { return apply(changes) }
        if !(await cursor.waitUntilApplied(position, limit: .seconds(2))) {
            logger.warning(
                "an access change is committed but not yet applied here", metadata: ["position": "\(position)"])
        }
    }

    /// Applies committed changes to memory.
    func apply(_ changes: [AccessChange]) {
        let hasAdmin = model.withLock { model in
            for change in changes { model.apply(change) }
            return model.hasAdmin
        }
        adminExists.store(hasAdmin, ordering: .releasing)
    }

    /// Replaces the model with one loaded from the store.
    func replace(_ loaded: AccessModel) {
        model.withLock { $0 = loaded }
        adminExists.store(loaded.hasAdmin, ordering: .releasing)
    }

    // MARK: Rules for names

    static func checkName(_ name: String, _ what: String) throws(AccessError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789_-.@".unicodeScalars.contains($0))
            })
        else {
            throw AccessError("\(what) '\(name)' is illegal: use 1 to 64 of A-Z a-z 0-9 _ - . @")
        }
    }

    static func checkPassword(_ password: String) throws(AccessError) {
        // bcrypt reads at most 72 bytes: a longer password would be silently cut.
        guard (8...72).contains(password.utf8.count) else {
            throw AccessError("a password must be 8 to 72 bytes long")
        }
    }

    static func checkPermission(_ permission: Permission) throws(AccessError) {
        guard Permission.actions.contains(permission.action) else {
            throw AccessError("action '\(permission.action)' is illegal: use r, w or rw")
        }
        guard !permission.resource.isEmpty, permission.resource.utf8.count <= 256 else {
            throw AccessError("resource must be 1 to 256 characters, like public:*:naming/* or dev:DEFAULT_GROUP:*")
        }
    }
}

/// A refused change of users, roles or permissions: HTTP `code`, and what to do about it.
struct AccessError: Error, CustomStringConvertible {
    let description: String
    let code: Int

    init(_ description: String, code: Int = 400) {
        self.description = description
        self.code = code
    }
}
