import Synchronization

/// Slows down password guessing: after 3 failed logins in a row from one IP, each further
/// attempt from it must wait 1 s, then 2 s, 4 s … up to 60 s after the last failure. A success
/// clears the IP. The table holds at most `capacity` IPs; when full, the stalest is dropped.
///
/// Threading: thread-safe.
final class LoginThrottle: Sendable {
    private struct Entry {
        var failures: Int
        var lastFailure: Int64
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int
    private let firstDelayMillis: Int64
    static let freeAttempts = 3
    static let maximumDelayMillis: Int64 = 60_000

    init(capacity: Int = 10_000, firstDelayMillis: Int64 = 1000) {
        self.capacity = capacity
        self.firstDelayMillis = firstDelayMillis
    }

    /// Milliseconds the IP must still wait before its next attempt; 0 if it may try now.
    func waitMillis(for ip: String, now: Int64) -> Int64 {
        entries.withLock { entries in
            guard let entry = entries[ip], entry.failures >= Self.freeAttempts else { return 0 }
            let delay = min(
                max(Self.maximumDelayMillis, firstDelayMillis),
                firstDelayMillis << Int64(min(entry.failures - Self.freeAttempts, 16)))
            return max(0, entry.lastFailure + delay - now)
        }
    }

    func failed(_ ip: String, now: Int64) {
        entries.withLock { entries in
            if entries[ip] == nil, entries.count >= capacity,
                let stalest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key
            {
                entries.removeValue(forKey: stalest)
            }
            entries[ip, default: Entry(failures: 0, lastFailure: now)].failures += 1
            entries[ip]?.lastFailure = now
        }
    }

    func succeeded(_ ip: String) {
        _ = entries.withLock { $0.removeValue(forKey: ip) }
    }
}
