import Foundation
import Logging
import NIOSSL
import PostgresNIO
import RegistrarCore
import Synchronization

/// The durable store a cluster shares: one PostgreSQL database, through a small connection pool
/// (postgres-nio's `PostgresClient`; plain SQL, no ORM).
///
/// Every commit takes one advisory lock, writes its rows, appends the batch to `change_log` and
/// sends `NOTIFY registrar_changes`, all in one transaction. The lock makes change-log positions
/// follow commit order, so a member that has read up to position P has seen every commit before
/// P: following the log is "read what comes after the last position applied".
///
/// Every call answers within `timeout`: with the database down a write fails in about that
/// long, with `StorageError.isUnavailable` set, and the pool reconnects on its own (with
/// backoff) once the database is back.
///
/// Threading: thread-safe.
public final class PostgresStore: SharedDurableStore {
    public let location: String
    /// Names this process in the change log (for operators reading it).
    public let origin: String
    let client: PostgresClient
    let logger: Logger
    let timeout: Duration
    private let runner: Task<Void, Never>
    private let listeners = Mutex<[Task<Void, Never>]>([])

    static let channel = "registrar_changes"
    /// Serializes commits (so positions follow commit order) and prunes.
    static let writeLock: Int64 = 0x5245_4749_5354_5200
    /// Serializes members that migrate the same database at once.
    static let migrationLock: Int64 = 0x5245_4749_5354_5201

    /// Connects and (with `migrating`, the default) brings the schema up to date. Fails (within
    /// a few timeouts) if the database cannot be reached, refuses the credentials, or has a schema
    /// newer than this build's.
    public static func open(
        _ url: DatabaseURL, origin: String, timeout: Duration = .seconds(2), migrating: Bool = true, logger: Logger
    ) async throws(StorageError) -> PostgresStore {
        let store = try PostgresStore(url, origin: origin, timeout: timeout, logger: logger)
        guard migrating else { return store }
        do {
            _ = try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    private init(_ url: DatabaseURL, origin: String, timeout: Duration, logger: Logger) throws(StorageError) {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password,
            database: url.database, tls: try Self.tls(url))
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = timeout
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.location = url.description
        self.origin = origin
        self.timeout = timeout
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    private static func tls(_ url: DatabaseURL) throws(StorageError) -> PostgresClient.Configuration.TLS {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        switch url.tlsMode {
        case .disable: return .disable
        case .prefer: return .prefer(unverified)
        case .require: return .require(unverified)
        case .verifyFull:
            var verified = TLSConfiguration.makeClientConfiguration()
            if let path = url.rootCertificatePath {
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw StorageError("--database: sslrootcert '\(path)' is not a readable file")
                }
                verified.trustRoots = .file(path)
            }
            return .require(verified)
        }
    }

    public func close() async {
        for listener in listeners.withLock({ $0 }) { listener.cancel() }
        runner.cancel()
        await runner.value
    }

    // MARK: Schema

    /// Runs the migrations this database lacks; returns the versions before and after.
    public func migrate() async throws(StorageError) -> (from: Int, to: Int) {
        try await run("the schema migration", limit: timeout * 5) { [self] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: self.logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS registrar_schema (
                        version BIGINT PRIMARY KEY, description TEXT NOT NULL,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: self.logger)
                var current = 0
                let rows = try await connection.query(
                    "SELECT COALESCE(MAX(version), 0) FROM registrar_schema", logger: self.logger)
                for try await version in rows.decode(Int.self) { current = version }
                guard current <= PostgresSchema.newestVersion else {
                    throw StorageError(
                        "the database schema is version \(current), newer than this registrar's "
                            + "\(PostgresSchema.newestVersion): upgrade registrar (the database was left as it was)")
                }
                for migration in PostgresSchema.migrations where migration.version > current {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                    }
                    try await connection.query(
                        "INSERT INTO registrar_schema (version, description) VALUES (\(migration.version), \(migration.description))",
                        logger: self.logger)
                    self.logger.notice(
                        "migrated the database schema",
                        metadata: ["database": "\(self.location)", "version": "\(migration.version)"])
                }
                return (current, max(current, PostgresSchema.newestVersion))
            }
        }
    }

    // MARK: Reads and writes

    public func load() async throws(StorageError) -> StoredState {
        try await run("the load", limit: timeout * 5) { [self] in
            try await client.withTransaction(logger: logger) { connection in
                // One snapshot: the state and the position it includes agree.
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: self.logger)
                return try await Self.readState(connection, logger: self.logger)
            }
        }
    }

    @discardableResult
    public func commit(_ changes: [StoredChange]) async throws(StorageError) -> Int64? {
        guard !changes.isEmpty else { return nil }
        let batch = try Self.encode(changes)
        return try await run("the write") { [self] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLock))", logger: self.logger)
                try await Self.apply(changes, connection, logger: self.logger)
                // One round trip for the log row and its notification (sent at commit).
                let rows = try await connection.query(
                    """
                    WITH entry AS (
                        INSERT INTO change_log (origin, changes) VALUES (\(self.origin), \(batch)) RETURNING position)
                    SELECT position, pg_notify(\(Self.channel), position::text)::text FROM entry
                    """, logger: self.logger)
                var position: Int64 = 0
                for try await (value, _) in rows.decode((Int64, String).self) { position = value }
                return position
            }
        }
    }

    /// Runs `body` within the deadline, turning any failure into an operator's message.
    func run<T: Sendable>(
        _ what: String, limit: Duration? = nil, _ body: @escaping @Sendable () async throws -> T
    ) async throws(StorageError) -> T {
        let location = self.location
        let limit = limit ?? timeout
        let late = "the database \(location) did not answer \(what) within \(limit) (is it running and reachable?)"
        return try await withDeadline(limit, failure: late) { () async throws(StorageError) -> T in
            do {
                return try await body()
            } catch let error as StorageError {
                throw error
            } catch {
                let (reason, unavailable) = Self.describe(error)
                throw StorageError("the database \(location) failed \(what): \(reason)", unavailable: unavailable)
            }
        }
    }
}
