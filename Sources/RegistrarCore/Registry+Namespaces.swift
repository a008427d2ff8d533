/// A namespace created through the namespace API. Naming data does not require one (any
/// namespace id isolates its services, as in Nacos); the API gives them names and guards
/// their deletion.
public struct NamespaceInfo: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var description: String

    public init(id: String, name: String, description: String = "") {
        self.id = id
        self.name = name
        self.description = description
    }

    /// The namespace that always exists (id `public`, which Nacos 2.x lists as `""`).
    public static let publicNamespace = NamespaceInfo(
        id: ServiceKey.defaultNamespace, name: "public", description: "Default Namespace")
}

/// The namespace API: list, create, update and delete.
extension Registry {
    /// `public` first, then the created namespaces by id.
    public func namespaceList() -> [NamespaceInfo] {
        [NamespaceInfo.publicNamespace] + namespaces.values.sorted { $0.id < $1.id }
    }

    public func namespace(_ id: String) -> NamespaceInfo? {
        let id = ServiceKey.normalizedNamespace(id)
        return id == ServiceKey.defaultNamespace ? .publicNamespace : namespaces[id]
    }

    /// The services that exist for readers in `namespace`.
    public func serviceCount(inNamespace namespace: String) -> Int {
        let namespace = ServiceKey.normalizedNamespace(namespace)
        return services.keys.reduce(0) { $0 + ($1.namespace == namespace && isVisible($1) ? 1 : 0) }
    }

    /// Checks a namespace to create: a new id of word characters and `-`, and a plain name.
    public func checkCreateNamespace(_ info: NamespaceInfo) throws(RegistryError) {
        guard !info.id.isEmpty, info.id.utf8.count <= 128,
            info.id.allSatisfy({ $0 == "-" || $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
        else {
            throw .invalidParameter(
                "namespace id '\(info.id)' is illegal: use 1 to 128 letters, digits, '_' or '-'",
                detail: RegistryError.Detail.illegalNamespace)
        }
        guard info.id != ServiceKey.defaultNamespace, namespaces[info.id] == nil else {
            throw .invalidParameter(
                "namespace id '\(info.id)' already exists", detail: RegistryError.Detail.namespaceAlreadyExists)
        }
        try checkNamespaceText(info)
    }

    public mutating func createNamespace(_ info: NamespaceInfo) throws(RegistryError) {
        try checkCreateNamespace(info)
        namespaces[info.id] = info
    }

    /// Checks a rename or new description of an existing namespace; `public` cannot change.
    public func checkUpdateNamespace(_ info: NamespaceInfo) throws(RegistryError) {
        try checkExistingNamespace(info.id, verb: "changed")
        try checkNamespaceText(info)
    }

    public mutating func updateNamespace(_ info: NamespaceInfo) throws(RegistryError) {
        try checkUpdateNamespace(info)
        namespaces[info.id] = info
    }

    /// A namespace can be deleted once no service is left in it; `public` never.
    public func checkDeleteNamespace(_ id: String) throws(RegistryError) {
        try checkExistingNamespace(id, verb: "deleted")
        let count = serviceCount(inNamespace: id)
        guard count == 0 else {
            throw .invalidParameter(
                "namespace '\(id)' still holds \(count) service(s); delete them (and deregister their instances) first")
        }
    }

    public mutating func deleteNamespace(_ id: String) throws(RegistryError) {
        try checkDeleteNamespace(id)
        namespaces.removeValue(forKey: id)
    }

    private func checkExistingNamespace(_ id: String, verb: String) throws(RegistryError) {
        guard ServiceKey.normalizedNamespace(id) != ServiceKey.defaultNamespace else {
            throw .invalidParameter("the public namespace cannot be \(verb)")
        }
        guard namespaces[id] != nil else {
            throw .notFound("namespaceId [ \(id) ] not exist", detail: RegistryError.Detail.namespaceNotExist)
        }
    }

    private func checkNamespaceText(_ info: NamespaceInfo) throws(RegistryError) {
        guard !info.name.trimmingWhitespace.isEmpty, info.name.utf8.count <= 128,
            !info.name.contains(where: { "@#$%^&*".contains($0) })
        else {
            throw .invalidParameter(
                "namespace name '\(info.name)' is illegal: 1 to 128 bytes, none of @#$%^&*",
                detail: RegistryError.Detail.illegalNamespace)
        }
        guard info.description.utf8.count <= 256 else {
            throw .invalidParameter("namespace description is longer than 256 bytes")
        }
    }
}

extension String {
    var trimmingWhitespace: Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<max(start, end)]
    }
}
