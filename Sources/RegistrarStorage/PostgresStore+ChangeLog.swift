import Foundation
import PostgresNIO

// Following the change log: reads after a position, commit notifications, pruning.
extension PostgresStore {
    public func changes(after position: Int64, limit: Int) async throws(StorageError) -> [ChangeLogEntry]? {
        try await run("the change-log read") { [self] in
            try await client.withConnection { connection in
                var entries: [ChangeLogEntry] = []
                for try await (next, batch) in try await connection.query(
                    "SELECT position, changes FROM change_log WHERE position > \(position) ORDER BY position LIMIT \(limit)",
                    logger: self.logger
                ).decode((Int64, String).self) {
                    entries.append(ChangeLogEntry(position: next, changes: Self.decodeBatch(batch, at: next)))
                }
                // Read after the rows: a prune between the two can only make this answer "reload".
                var prunedThrough: Int64 = 0
                for try await through in try await connection.query(
                    "SELECT through FROM change_log_pruned", logger: self.logger
                ).decode(Int64.self) {
                    prunedThrough = through
                }
                return position < prunedThrough ? nil : entries
            }
        }
    }

    private static func decodeBatch(_ text: String, at position: Int64) -> Result<[StoredChange], StorageError> {
        do {
            return .success(try JSONDecoder().decode([StoredChange].self, from: Data(text.utf8)))
        } catch {
            return .failure(
                StorageError(
                    "change-log entry \(position) cannot be read by this registrar (written by a newer one?): \(error)")
            )
        }
    }

    public func commitNotifications() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let task = Task { [client, logger] in
            var delay = Duration.milliseconds(250)
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            // Listening again: whatever was committed meanwhile needs reading.
                            continuation.yield()
                            delay = .milliseconds(250)
                            for try await _ in notifications { continuation.yield() }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.debug("LISTEN failed; retrying", metadata: ["error": "\(Self.describe(error).0)"])
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func pruneChangeLog(olderThan age: Duration, keep: Int) async throws(StorageError) {
        let seconds = Double(age.components.seconds)
        try await run("the change-log prune") { [self] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLock))", logger: self.logger)
                try await connection.query(
                    """
                    WITH gone AS (
                        DELETE FROM change_log
                        WHERE position <= (SELECT MAX(position) FROM change_log) - \(keep)
                          AND committed_at < now() - make_interval(secs => \(seconds))
                        RETURNING position)
                    UPDATE change_log_pruned SET through = GREATEST(through, COALESCE((SELECT MAX(position) FROM gone), 0))
                    """, logger: self.logger)
            }
        }
    }
}
