/// A naming fuzzy-watch pattern, as Nacos 3.x writes it: `namespace>>groupPattern>>servicePattern`.
/// The namespace must match exactly (blank means `public`). A group or service pattern is an
/// exact name, `*` (anything), `prefix*`, `*suffix` or `*infix*`; a `*` anywhere else is refused
/// here, where Nacos would accept the pattern and never match it.
public struct FuzzyWatchPattern: Sendable, Hashable, CustomStringConvertible {
    public static let separator = ">>"

    /// The pattern as the client sent it: the key of the watch, echoed in sync pushes.
    public let text: String
    public let namespace: String
    let group: Part
    let service: Part

    enum Part: Sendable, Hashable {
        case any
        case exact(String)
        case prefix(String)
        case suffix(String)
        case infix(String)

        init?(_ text: Substring) {
            if text == "*" {
                self = .any
                return
            }
            let (leading, trailing) = (text.hasPrefix("*"), text.hasSuffix("*"))
            let inner = String(text.dropFirst(leading ? 1 : 0).dropLast(trailing ? 1 : 0))
            guard !inner.isEmpty, !inner.contains("*") else { return nil }
            switch (leading, trailing) {
            case (true, true): self = .infix(inner)
            case (true, false): self = .suffix(inner)
            case (false, true): self = .prefix(inner)
            case (false, false): self = .exact(inner)
            }
        }

        func matches(_ name: String) -> Bool {
            switch self {
            case .any: true
            case .exact(let value): name == value
            case .prefix(let value): name.hasPrefix(value)
            case .suffix(let value): name.hasSuffix(value)
            case .infix(let value): name.contains(value)
            }
        }
    }

    /// Parses `text`; the error says what is wrong, for the client's log.
    public init(_ text: String) throws(RegistryError) {
        let parts = text.split(separator: Self.separator, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .invalidParameter(
                "fuzzy watch pattern '\(text)' is illegal: expected namespace>>groupPattern>>servicePattern")
        }
        guard let group = Part(parts[1]), let service = Part(parts[2]) else {
            throw .invalidParameter(
                "fuzzy watch pattern '\(text)' is illegal: a group or service pattern is a name, '*', 'prefix*', "
                    + "'*suffix' or '*infix*'")
        }
        self.text = text
        self.namespace = ServiceKey.normalizedNamespace(String(parts[0]))
        self.group = group
        self.service = service
    }

    public func matches(_ key: ServiceKey) -> Bool {
        key.namespace == namespace && group.matches(key.group) && service.matches(key.name)
    }

    /// The key Nacos uses for a service in fuzzy-watch messages: `namespace@@group@@name`.
    public static func serviceKey(_ key: ServiceKey) -> String {
        "\(key.namespace)@@\(key.group)@@\(key.name)"
    }

    public var description: String { text }
}

extension Registry {
    /// Whether any client publishes into `service` (what fuzzy watch reports as present).
    public func hasPublishers(_ service: ServiceKey) -> Bool {
        !(services[service]?.publishers.isEmpty ?? true)
    }

    /// The services of `pattern`'s namespace that have publishers and match it, sorted, at most
    /// `limit`; `truncated` when more matched.
    public func fuzzyMatches(_ pattern: FuzzyWatchPattern, limit: Int) -> (services: [ServiceKey], truncated: Bool) {
        let matched = services.compactMap { key, record in
            !record.publishers.isEmpty && pattern.matches(key) ? key : nil
        }.sorted { ($0.group, $0.name) < ($1.group, $1.name) }
        return (Array(matched.prefix(limit)), matched.count > limit)
    }
}
