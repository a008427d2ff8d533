/// Nacos's naming defaults, as every client and server applies them: an empty namespace means
/// `public`, an empty group `DEFAULT_GROUP`, and a grouped name is `group@@name`.
public enum NacosNaming {
    public static let defaultNamespace = "public"
    public static let defaultGroup = "DEFAULT_GROUP"
    public static let defaultCluster = "DEFAULT"
    /// Separates group and name in a grouped name.
    public static let groupSeparator = "@@"
}

/// A service named as the wire names it: (namespace, group, name), with the defaults applied.
public struct ServiceName: Hashable, Sendable, CustomStringConvertible {
    public let namespace: String
    public let group: String
    public let name: String

    public init(namespace: String?, group: String?, name: String) {
        self.namespace = (namespace?.isEmpty ?? true) ? NacosNaming.defaultNamespace : namespace!
        self.group = (group?.isEmpty ?? true) ? NacosNaming.defaultGroup : group!
        self.name = name
    }

    /// `group@@name`, the form Nacos uses in instance ids and the instances' `serviceName`.
    public var groupedName: String { group + NacosNaming.groupSeparator + name }

    public var description: String { "\(namespace)/\(groupedName)" }
}
