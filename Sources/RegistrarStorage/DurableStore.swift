/// Where durable data lives: persistent instances, service metadata, cluster health checks,
/// namespaces, users, roles and permissions. `SQLiteStore` is a single node's file;
/// `PostgresStore` is shared by the members of a cluster.
///
/// Contract: `commit` returns only once the batch is durable, and a failed commit wrote
/// nothing. Changes are idempotent (see `StoredChange`).
///
/// Threading: implementations are thread-safe.
public protocol DurableStore: Sendable {
    /// Where the data is, for logs and errors: a file path, or a database URL without its password.
    var location: String { get }
    /// Everything stored, for startup.
    func load() async throws(StorageError) -> StoredState
    /// Writes `changes` in one transaction, in order. Returns the batch's change-log position
    /// (nil for a store without a change log).
    @discardableResult
    func commit(_ changes: [StoredChange]) async throws(StorageError) -> Int64?
    /// Closes the store; later calls fail.
    func close() async
}

/// A store several members share: each commit is also appended to a change log that every
/// member follows.
public protocol SharedDurableStore: DurableStore {
    /// Committed batches after `position`, oldest first, at most `limit`; nil if the log no
    /// longer reaches back to `position` (pruned), and the caller must load the state again.
    func changes(after position: Int64, limit: Int) async throws(StorageError) -> [ChangeLogEntry]?
    /// Yields whenever another commit may have been appended (a hint: follow by polling too).
    func commitNotifications() -> AsyncStream<Void>
    /// Deletes change-log rows older than `age`, always keeping the newest `keep`.
    func pruneChangeLog(olderThan age: Duration, keep: Int) async throws(StorageError)
}

/// One committed batch of the change log.
public struct ChangeLogEntry: Sendable {
    public var position: Int64
    /// The batch, or why it could not be read (written by a newer registrar).
    public var changes: Result<[StoredChange], StorageError>

    public init(position: Int64, changes: Result<[StoredChange], StorageError>) {
        self.position = position
        self.changes = changes
    }
}
