import Foundation
import RegistrarCore

/// The service operations every HTTP API serves: services with stored metadata (protection
/// threshold, metadata, selector), kept in the durable store, and the service list.
///
/// Unlike Nacos 2.x, which creates every service through this API as *persistent* (so that
/// ephemeral registrations into it then fail), a created service is ephemeral unless the
/// request says `ephemeral=false`.
///
/// Threading: thread-safe; the registry is behind its lock.
struct ServiceOperations: Sendable {
    let naming: NamingContext

    private func metadata(_ parameters: V1Parameters, threshold: Double) throws -> ServiceMetadata {
        ServiceMetadata(
            protectThreshold: threshold, metadata: try parameters.metadata() ?? [:],
            selector: try selector(parameters.optional("selector")),
            ephemeral: parameters.bool("ephemeral", default: true)
        )
    }

    private func selector(_ text: String?) throws -> ServiceSelector {
        guard let text else { return .none }
        struct SelectorJSON: Decodable {
            var type: String?
            var expression: String?
        }
        guard let decoded = try? JSONDecoder().decode(SelectorJSON.self, from: Data(text.utf8)),
            let type = decoded.type?.lowercased(),
            type == "none" || type == "label"
        else {
            throw V1Error(
                .badRequest,
                "not match any type of selector! (expected {\"type\":\"none\"} or {\"type\":\"label\",\"expression\":…})",
                code: .selectorError
            )
        }
        return ServiceSelector(type: type, expression: type == "label" ? decoded.expression : nil)
    }

    /// Service writes are durable: answered once on disk.
    func create(_ parameters: V1Parameters) async throws {
        let service = try parameters.service(validation: naming.validation)
        let metadata = try metadata(parameters, threshold: try parameters.double("protectThreshold") ?? 0)
        try await naming.write(.createService(service, metadata: metadata))
    }

    /// `thresholdRequired`: v1 requires `protectThreshold`; the v2 and v3 APIs keep the stored
    /// one when it is absent.
    func update(_ parameters: V1Parameters, thresholdRequired: Bool) async throws {
        let service = try parameters.service(validation: naming.validation)
        var threshold = try parameters.double("protectThreshold")
        if threshold == nil, !thresholdRequired {
            threshold = naming.store.read { $0.storedMetadata(of: service)?.protectThreshold } ?? 0
        }
        guard let threshold else { throw V1Error.missing("protectThreshold") }
        try await naming.write(.updateService(service, metadata: try metadata(parameters, threshold: threshold)))
    }

    func delete(_ parameters: V1Parameters) async throws {
        let service = try parameters.service(validation: naming.validation)
        try await naming.write(.deleteService(service))
    }

    func detail(_ parameters: V1Parameters) throws -> Registry.ServiceDetail {
        let service = try parameters.service(validation: naming.validation)
        return try naming.store.read { (registry) throws(RegistryError) in try registry.serviceDetail(service) }
    }

    struct ListQuery {
        var namespace: String
        var group: String
        var pageNo: Int
        var pageSize: Int
    }

    /// The page of a service list; `defaults` are used when the API makes them optional.
    func listQuery(_ parameters: V1Parameters, defaultPage: (pageNo: Int, pageSize: Int)?) throws -> ListQuery {
        func page(_ key: String, _ fallback: Int?) throws -> Int {
            guard let value = try parameters.int(key) ?? fallback else { throw V1Error.missing(key) }
            return value
        }
        let pageNo = try page("pageNo", defaultPage?.pageNo)
        let pageSize = try page("pageSize", defaultPage?.pageSize)
        guard (1...10_000).contains(pageSize) else {
            throw V1Error.illegal("pageSize", "the value should be between 1 and 10000.")
        }
        let namespace = ServiceKey.normalizedNamespace(parameters.optional("namespaceId"))
        let group = parameters.optional("groupName") ?? ServiceKey.defaultGroup
        try naming.validation.checkNamespace(namespace)
        try naming.validation.checkGroup(group)
        return ListQuery(namespace: namespace, group: group, pageNo: max(1, pageNo), pageSize: pageSize)
    }

    func list(_ query: ListQuery) -> (count: Int, names: [String]) {
        naming.store.read {
            $0.listServices(
                namespace: query.namespace, group: query.group, pageNo: query.pageNo, pageSize: query.pageSize)
        }
    }
}
