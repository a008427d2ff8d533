/// Who may do what: users, their roles, and each role's permissions, in Nacos's model.
///
/// A permission names a resource pattern `namespace:group:naming/service` (`*` globs; a
/// pattern that starts with `:` means the `public` namespace) and the actions `r`, `w` or
/// `rw`. `ROLE_ADMIN` is the global admin: it may do everything, including managing users.
///
/// A plain value with no I/O: the server keeps one behind a lock, and the durable store loads
/// and saves its rows.
public struct AccessModel: Sendable, Equatable {
    public static let adminRole = "ROLE_ADMIN"
    /// The first admin, as in Nacos.
    public static let initialAdmin = "nacos"

    /// Username → bcrypt hash.
    public private(set) var users: [String: String] = [:]
    public private(set) var roles: Set<RoleBinding> = []
    public private(set) var permissions: Set<Permission> = []

    public init() {}

    public var hasAdmin: Bool {
        roles.contains { $0.role == Self.adminRole && users[$0.username] != nil }
    }

    public func isGlobalAdmin(_ username: String) -> Bool {
        roles.contains(RoleBinding(role: Self.adminRole, username: username))
    }

    /// Whether `username` may do `action` on `resource`.
    public func allows(_ username: String, _ action: AccessAction, on resource: NamingResource) -> Bool {
        let userRoles = roles.filter { $0.username == username }.map(\.role)
        if userRoles.contains(Self.adminRole) { return true }
        let text = resource.text
        return permissions.contains { permission in
            userRoles.contains(permission.role) && permission.grants(action)
                && Permission.matches(pattern: permission.resource, resource: text)
        }
    }

    /// Applies one change; the durable store writes the same change as rows.
    public mutating func apply(_ change: AccessChange) {
        switch change {
        case let .putUser(username, passwordHash):
            users[username] = passwordHash
        case let .deleteUser(username):
            users.removeValue(forKey: username)
            roles = roles.filter { $0.username != username }
        case let .bind(binding):
            roles.insert(binding)
        case let .unbind(role, username?):
            roles.remove(RoleBinding(role: role, username: username))
        case let .unbind(role, nil):
            roles = roles.filter { $0.role != role }
            permissions = permissions.filter { $0.role != role }
        case let .grant(permission):
            permissions.insert(permission)
        case let .revoke(permission):
            permissions.remove(permission)
        }
    }
}

/// One change of the access model.
public enum AccessChange: Sendable, Equatable, Codable {
    /// Creates a user or replaces its password hash.
    case putUser(String, passwordHash: String)
    /// Removes the user and its role bindings.
    case deleteUser(String)
    case bind(RoleBinding)
    /// Removes one binding, or with no username the role from every user, and its permissions.
    case unbind(role: String, username: String?)
    case grant(Permission)
    case revoke(Permission)
}

/// `r`, `w` or both.
public enum AccessAction: String, Sendable, CaseIterable {
    case read = "r"
    case write = "w"
}

public struct RoleBinding: Sendable, Hashable, Codable {
    public var role: String
    public var username: String

    public init(role: String, username: String) {
        self.role = role
        self.username = username
    }
}

public struct Permission: Sendable, Hashable, Codable {
    public var role: String
    /// A pattern such as `public:*:*` or `dev:DEFAULT_GROUP:naming/orders`.
    public var resource: String
    /// `r`, `w` or `rw`.
    public var action: String

    public init(role: String, resource: String, action: String) {
        self.role = role
        self.resource = resource
        self.action = action
    }

    /// The actions a stored permission may name.
    public static let actions: Set<String> = ["r", "w", "rw"]

    /// Nacos matches actions by "contains": `rw` grants both.
    public func grants(_ action: AccessAction) -> Bool {
        self.action.contains(action.rawValue)
    }

    /// Glob match of a whole resource: `*` stands for any run of characters, `:` and `/`
    /// included; a pattern that starts with `:` is in the `public` namespace.
    public static func matches(pattern: String, resource: String) -> Bool {
        let pattern = pattern.hasPrefix(":") ? NamingResource.publicNamespace + pattern : pattern
        return glob(Array(pattern.utf8)[...], Array(resource.utf8)[...])
    }

    /// Iterative wildcard matching with backtracking to the last `*`: linear in practice,
    /// and never recursive, whatever pattern an admin stored.
    private static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        let star = UInt8(ascii: "*")
        var p = pattern.startIndex
        var t = text.startIndex
        var lastStar: Int?
        var resumeAt = text.startIndex
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == star {
                lastStar = p
                resumeAt = t
                p += 1
            } else if p < pattern.endIndex, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star = lastStar {
                p = star + 1
                resumeAt += 1
                t = resumeAt
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == star { p += 1 }
        return p == pattern.endIndex
    }
}

/// The resource a naming call touches, as a permission names it.
public struct NamingResource: Sendable, Hashable {
    public static let publicNamespace = ServiceKey.defaultNamespace

    public var namespace: String
    public var group: String
    public var service: String

    /// Blanks mean what they mean to the registry: the `public` namespace and `DEFAULT_GROUP`.
    /// A `group@@name` service name carries its group. A nil service is every service (`*`),
    /// as a list call touches.
    public init(namespace: String?, group: String?, service: String?) {
        var group = group
        var service = service
        if let name = service, let separator = name.firstRange(of: ServiceKey.groupSeparator) {
            group = String(name[..<separator.lowerBound])
            service = String(name[separator.upperBound...])
        }
        self.namespace = Self.orDefault(namespace, Self.publicNamespace)
        self.group = Self.orDefault(group, ServiceKey.defaultGroup)
        self.service = Self.orDefault(service, "*")
    }

    private static func orDefault(_ value: String?, _ fallback: String) -> String {
        guard let value, !value.isEmpty else { return fallback }
        return value
    }

    /// `namespace:group:naming/service`.
    public var text: String { "\(namespace):\(group):naming/\(service)" }
}
