import Synchronization

/// The registered connections, by connection id (which is also the naming client id).
///
/// Threading: thread-safe.
final class ConnectionTable: Sendable {
    private let connections = Mutex<[String: RPCConnection]>([:])

    func insert(_ connection: RPCConnection) {
        connections.withLock { $0[connection.id] = connection }
    }

    func remove(_ id: String) {
        _ = connections.withLock { $0.removeValue(forKey: id) }
    }

    func connection(_ id: String) -> RPCConnection? {
        connections.withLock { $0[id] }
    }

    var count: Int { connections.withLock { $0.count } }

    var all: [RPCConnection] { connections.withLock { Array($0.values) } }
}
