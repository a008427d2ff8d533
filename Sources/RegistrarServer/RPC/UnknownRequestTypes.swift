import Synchronization

/// Request types no handler serves (a newer client's, or garbage): each is answered with
/// Nacos's 302, and logged once, so a client retrying one in a loop cannot flood the log.
///
/// Threading: thread-safe.
final class UnknownRequestTypes: Sendable {
    /// Distinct types remembered; past this, new ones are counted but not logged.
    static let maximumRemembered = 64
    /// Characters of a type name that reach the log.
    static let maximumLoggedLength = 80

    private let seen = Mutex<Set<String>>([])

    /// The type as the log shows it, when this is its first sighting; nil otherwise.
    func firstSighting(of type: String) -> String? {
        let shown = String(type.prefix(Self.maximumLoggedLength).map { $0.isASCII && !$0.isNewline ? $0 : "?" })
        let first = seen.withLock { seen -> Bool in
            guard seen.count < Self.maximumRemembered else { return false }
            return seen.insert(shown).inserted
        }
        return first ? shown : nil
    }
}
