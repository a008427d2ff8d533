import Logging
import RegistrarCore

/// The namespace operations of the v1 console API and the v3 admin API (which name their
/// parameters differently): namespaces kept in the durable store; `public` always exists.
///
/// Threading: thread-safe; the registry is behind its lock.
struct NamespaceOperations: Sendable {
    let naming: NamingContext
    let logger: Logger

    /// Every namespace with its service count, `public` first.
    func list() -> [(info: NamespaceInfo, serviceCount: Int)] {
        naming.store.read { registry in
            registry.namespaceList().map { ($0, registry.serviceCount(inNamespace: $0.id)) }
        }
    }

    func find(_ id: String) -> (info: NamespaceInfo, serviceCount: Int)? {
        naming.store.read { registry in registry.namespace(id).map { ($0, registry.serviceCount(inNamespace: $0.id)) } }
    }

    func exists(_ id: String) -> Bool {
        naming.store.read { $0.namespace(id) != nil }
    }

    func create(_ info: NamespaceInfo) async throws {
        try await naming.write(.createNamespace(info))
        logger.info("namespace created", metadata: ["namespace": "\(info.id)", "name": "\(info.name)"])
    }

    func update(_ info: NamespaceInfo) async throws {
        try await naming.write(.updateNamespace(info))
    }

    func delete(_ id: String) async throws {
        try await naming.write(.deleteNamespace(id))
        logger.info("namespace deleted", metadata: ["namespace": "\(id)"])
    }
}
