/// Identifies a service singleton: (namespace, group, name).
///
/// The empty namespace means `public` and the empty group means `DEFAULT_GROUP`; both are
/// normalised here, once, so that every front agrees on the same key.
public struct ServiceKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public static let defaultNamespace = "public"
    public static let defaultGroup = "DEFAULT_GROUP"
    /// Separates group and name in a grouped name (`group@@name`).
    public static let groupSeparator = "@@"

    public let namespace: String
    public let group: String
    public let name: String

    public init(namespace: String?, group: String?, name: String) {
        self.namespace = ServiceKey.normalizedNamespace(namespace)
        self.group = (group?.isEmpty ?? true) ? ServiceKey.defaultGroup : group!
        self.name = name
    }

    /// `""` and `nil` mean `public`.
    public static func normalizedNamespace(_ namespace: String?) -> String {
        guard let namespace, !namespace.isEmpty else { return defaultNamespace }
        return namespace
    }

    /// `group@@name`, the form Nacos uses in instance ids and the instances' `serviceName`.
    public var groupedName: String { group + ServiceKey.groupSeparator + name }

    public var description: String { "\(namespace)/\(groupedName)" }
}
