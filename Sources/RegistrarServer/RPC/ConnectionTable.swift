import RegistrarCore
import Synchronization

/// The registered connections, by connection id (which is also the naming client id). The push
/// scheduler finds a subscriber's connection here.
///
/// Threading: thread-safe.
final class ConnectionTable: PushSinkDirectory {
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

    func pushSink(for client: ClientID) -> (any PushSink)? {
        connection(client)
    }

    var count: Int { connections.withLock { $0.count } }

    var all: [RPCConnection] { connections.withLock { Array($0.values) } }
}
