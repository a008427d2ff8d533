/// A cluster member's health as this node sees it.
public enum MemberState: String, Sendable, Equatable {
    /// The last probe succeeded.
    case up = "UP"
    /// Not reached yet, or the last probes failed, but fewer than `downAfter` in a row. It still
    /// counts as healthy for routing, as in Nacos, so one lost probe moves nothing.
    case suspicious = "SUSPICIOUS"
    /// `downAfter` probes in a row failed.
    case down = "DOWN"
}

/// A member address, `host:port`, where port is the member's main (HTTP) port.
public struct MemberAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `host` (port 8848). IPv6 literals go in brackets: `[::1]:8848`.
    public init?(parsing text: String, defaultPort: Int = 8848) {
        let text = String(text.trimmingWhitespace)
        guard !text.isEmpty else { return nil }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { port = defaultPort; return }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            self.port = port
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            guard !host.isEmpty, !host.contains(":"), let port = Int(text[text.index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            self.port = port
        } else {
            host = text
            port = defaultPort
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { return nil }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func < (lhs: MemberAddress, rhs: MemberAddress) -> Bool { lhs.description < rhs.description }
}

/// The cluster as this node sees it: every member with its state, and the routing that
/// depends on it. Pure state: the runtime feeds it probe results and acts on the transitions.
///
/// Threading: not thread-safe; its owner serializes access.
public struct MemberTable: Sendable {
    public struct Member: Sendable, Equatable {
        public var address: MemberAddress
        public var state: MemberState
        /// Probes failed in a row.
        public var failures: Int
        /// Wall-clock ms of the last successful probe (0: never).
        public var lastSeen: Int64
    }

    public let me: MemberAddress
    /// Failed probes in a row that make a member DOWN.
    public let downAfter: Int
    public private(set) var members: [MemberAddress: Member]

    public init(me: MemberAddress, members: [MemberAddress], downAfter: Int = 3) {
        self.me = me
        self.downAfter = downAfter
        var table: [MemberAddress: Member] = [:]
        for address in members + [me] {
            table[address] = Member(
                address: address, state: address == me ? .up : .suspicious, failures: 0, lastSeen: 0)
        }
        self.members = table
    }

    /// Every member but this one, sorted.
    public var peers: [MemberAddress] { members.keys.filter { $0 != me }.sorted() }

    public func isMember(_ address: MemberAddress) -> Bool { members[address] != nil }

    public func state(of address: MemberAddress) -> MemberState? { members[address]?.state }

    /// Records a probe of `address`. Returns the member's new state if it changed.
    public mutating func recordProbe(of address: MemberAddress, succeeded: Bool, now: Int64) -> MemberState? {
        guard address != me, var member = members[address] else { return nil }
        let before = member.state
        if succeeded {
            member.failures = 0
            member.lastSeen = now
            member.state = .up
        } else {
            member.failures += 1
            member.state = member.failures >= downAfter ? .down : .suspicious
        }
        members[address] = member
        return member.state == before ? nil : member.state
    }

    /// Members that count for routing (UP or SUSPICIOUS, this one always), sorted.
    public var healthyMembers: [MemberAddress] {
        members.values.filter { $0.state != .down }.map(\.address).sorted()
    }

    /// The member responsible for an `ip:port` client: Nacos's hash of the tag over the sorted
    /// healthy members, so that Registrar and Nacos nodes would agree.
    public func responsible(for tag: String) -> MemberAddress {
        let healthy = healthyMembers
        guard !healthy.isEmpty else { return me }
        let hash = Int64(MemberTable.javaHashCode(tag))
        let index = Int(abs(hash % Int64(Int32.max)) % Int64(healthy.count))
        return healthy[index]
    }

    /// Java's `String.hashCode` (UTF-16 units, multiplier 31, 32-bit wrap-around).
    public static func javaHashCode(_ text: String) -> Int32 {
        var hash: Int32 = 0
        for unit in text.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return hash
    }
}
