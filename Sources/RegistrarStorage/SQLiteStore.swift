import Foundation
import GRDB
import RegistrarCore

/// The embedded durable store: one SQLite file (`registrar.sqlite`) in the data directory, in
/// WAL mode with `synchronous = FULL`, so a committed batch is on disk (fsync'd) when `commit`
/// returns.
///
/// The file is locked exclusively for as long as the store is open: a second process (another
/// node pointed at the same `--data-dir`) cannot open it. The exclusive lock also keeps WAL's
/// index in memory rather than in a shared-memory `-shm` file: no `mmap` of a file that a
/// failing or read-only disk could turn into a SIGBUS.
///
/// The store never repairs or replaces a file it cannot read: opening a corrupt file fails
/// with a message that names it, and the file is left as it was.
///
/// Threading: thread-safe. Commits are serialized by SQLite's single writer; callers that
/// want group commit batch their changes themselves (see the server's `DurableWriter`).
public final class SQLiteStore: DurableStore {
    public static let fileName = "registrar.sqlite"

    /// The database file.
    public let path: String
    public var location: String { path }
    private let database: DatabaseQueue

    /// Opens (or creates) the store in `directory` and runs pending migrations.
    ///
    /// - Parameter maximumPageCount: caps the file's size in pages (SQLite `max_page_count`);
    ///   a write past it fails as a full disk would. Nil: no cap beyond the disk's.
    public init(directory: String, maximumPageCount: Int? = nil) throws(StorageError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.path = path
        var configuration = Configuration()
        configuration.label = "registrar"
        configuration.busyMode = .timeout(1)
        configuration.prepareDatabase { db in
            // Exclusive before WAL: that is what keeps the WAL index off the -shm file.
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if let maximumPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maximumPageCount)") }
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            let check = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                throw StorageError("the integrity check failed: \(check.prefix(3).joined(separator: "; "))")
            }
            try SQLiteSchema.migrator.migrate(database)
        } catch let error as StorageError {
            throw Self.refusal(path, error.description)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            throw StorageError(
                "the data file '\(path)' is in use by another process (another registrar serve with the same --data-dir?); each node needs its own data directory"
            )
        } catch {
            throw Self.refusal(path, Self.describe(error))
        }
    }

    private static func refusal(_ path: String, _ reason: String) -> StorageError {
        StorageError(
            "cannot use the data file '\(path)': \(reason). It was left untouched; restore it from a backup, or move it aside to start with an empty store"
        )
    }

    /// Closes the file and releases its lock. Later calls fail.
    public func close() {
        try? database.close()
    }

    /// Reads everything, for startup.
    public func load() throws(StorageError) -> StoredState {
        do {
            return try database.read { db in try Self.readState(db) }
        } catch {
            throw StorageError("cannot read the data file '\(path)': \(Self.describe(error))")
        }
    }

    /// Writes `changes` in one transaction, in order; durable when this returns. On failure
    /// nothing of the batch is written.
    @discardableResult
    public func commit(_ changes: [StoredChange]) async throws(StorageError) -> Int64? {
        guard !changes.isEmpty else { return nil }
        do {
            try await database.write { db in
                for change in changes { try Self.apply(change, db) }
            }
        } catch {
            throw StorageError("the data file '\(path)' refused the write: \(Self.describe(error))")
        }
        return nil
    }

    /// SQLite's own words for the common failures (`database or disk is full`, `attempt to
    /// write a readonly database`, `file is not a database`).
    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "\(error.resultCode)"
        }
        return "\(error)"
    }
}

// MARK: Rows

extension SQLiteStore {
    private static func key(_ service: ServiceKey) -> StatementArguments {
        [service.namespace, service.group, service.name]
    }

    private static func apply(_ change: StoredChange, _ db: Database) throws {
        switch change {
        case let .putInstance(service, instance):
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO persistent_instance
                    (namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata, instance_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: key(service) + [
                    instance.ip, instance.port, instance.clusterName, instance.weight, instance.healthy,
                    instance.enabled,
                    try MetadataColumn.encode(instance.metadata), instance.customInstanceId,
                ]
            )
        case let .deleteInstance(service, ip, port):
            try db.execute(
                sql:
                    "DELETE FROM persistent_instance WHERE namespace = ? AND grp = ? AND service = ? AND ip = ? AND port = ?",
                arguments: key(service) + [ip, port]
            )
        case let .putService(service, metadata):
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO service
                    (namespace, grp, name, ephemeral, protect_threshold, metadata, selector_type, selector_expression)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: key(service) + [
                    metadata.ephemeral, metadata.protectThreshold, try MetadataColumn.encode(metadata.metadata),
                    metadata.selector.type, metadata.selector.expression,
                ]
            )
        case let .setHealth(service, ip, port, healthy):
            try db.execute(
                sql: """
                    UPDATE persistent_instance SET healthy = ?
                    WHERE namespace = ? AND grp = ? AND service = ? AND ip = ? AND port = ?
                    """,
                arguments: [healthy] + key(service) + [ip, port])
        case let .deleteService(service):
            try db.execute(
                sql: "DELETE FROM service WHERE namespace = ? AND grp = ? AND name = ?", arguments: key(service))
            try db.execute(
                sql: "DELETE FROM cluster_health_check WHERE namespace = ? AND grp = ? AND service = ?",
                arguments: key(service))
        case let .putNamespace(info):
            try db.execute(
                sql: "INSERT OR REPLACE INTO namespace (id, name, description) VALUES (?, ?, ?)",
                arguments: [info.id, info.name, info.description]
            )
        case let .deleteNamespace(id):
            try db.execute(sql: "DELETE FROM namespace WHERE id = ?", arguments: [id])
        case let .putHealthCheck(service, cluster, check):
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO cluster_health_check (namespace, grp, service, cluster, type, path, expected_status)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: key(service) + [cluster, check.kind.rawValue, check.path, check.expectedStatus]
            )
        case let .access(change):
            try applyAccess(change, db)
        }
    }

    private static func readState(_ db: Database) throws -> StoredState {
        var state = StoredState()
        for row in try Row.fetchAll(db, sql: "SELECT id, name, description FROM namespace ORDER BY id") {
            state.namespaces.append(NamespaceInfo(id: row["id"], name: row["name"], description: row["description"]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM service ORDER BY namespace, grp, name") {
            let metadata = ServiceMetadata(
                protectThreshold: row["protect_threshold"], metadata: try MetadataColumn.decode(row["metadata"]),
                selector: ServiceSelector(type: row["selector_type"], expression: row["selector_expression"]),
                ephemeral: row["ephemeral"]
            )
            state.services.append(
                (ServiceKey(namespace: row["namespace"], group: row["grp"], name: row["name"]), metadata))
        }
        for row in try Row.fetchAll(
            db, sql: "SELECT * FROM persistent_instance ORDER BY namespace, grp, service, ip, port")
        {
            let instance = Instance(
                ip: row["ip"], port: row["port"], weight: row["weight"], healthy: row["healthy"],
                enabled: row["enabled"],
                clusterName: row["cluster"], metadata: try MetadataColumn.decode(row["metadata"]),
                customInstanceId: row["instance_id"]
            )
            state.instances.append(
                (ServiceKey(namespace: row["namespace"], group: row["grp"], name: row["service"]), instance))
        }
        for row in try Row.fetchAll(
            db, sql: "SELECT * FROM cluster_health_check ORDER BY namespace, grp, service, cluster")
        {
            let kind = HealthCheckSpec.Kind(rawValue: row["type"]) ?? .tcp
            let check = HealthCheckSpec(kind: kind, path: row["path"], expectedStatus: row["expected_status"])
            state.healthChecks.append(
                (
                    ServiceKey(namespace: row["namespace"], group: row["grp"], name: row["service"]), row["cluster"],
                    check
                ))
        }
        state.access = try readAccess(db)
        return state
    }

}
