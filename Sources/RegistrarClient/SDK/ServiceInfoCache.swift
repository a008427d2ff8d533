import Foundation
import RegistrarWire
import Synchronization

/// The last known ServiceInfo of each service: in memory, and on disk when a directory is given,
/// so that reads keep working while no server is reachable (and across restarts).
///
/// Threading: thread-safe. Disk writes happen on the caller's thread, outside the lock.
final class ServiceInfoCache: Sendable {
    private let entries = Mutex<[ServiceName: ServiceInfo]>([:])
    private let directory: URL?

    init(directory: String?, namespace: String) {
        self.directory = directory.map {
            URL(fileURLWithPath: $0).appendingPathComponent(namespace.isEmpty ? "public" : namespace, isDirectory: true)
        }
    }

    /// The cached ServiceInfo, from memory or else from disk.
    func get(_ service: ServiceName) -> ServiceInfo? {
        if let hit = entries.withLock({ $0[service] }) { return hit }
        guard let file = file(for: service), let data = try? Data(contentsOf: file),
            let info = try? JSONDecoder().decode(ServiceInfo.self, from: data)
        else { return nil }
        entries.withLock { $0[service] = $0[service] ?? info }
        return info
    }

    /// Stores `info` unless the cache already holds newer data (or always, with
    /// `replacingNewer`). Returns the previous entry and whether `info` was taken.
    @discardableResult
    func put(_ info: ServiceInfo, for service: ServiceName, replacingNewer: Bool = false) -> (
        previous: ServiceInfo?, stored: Bool
    ) {
        let (previous, stored) = entries.withLock { entries -> (ServiceInfo?, Bool) in
            let previous = entries[service]
            if !replacingNewer, let previous, previous.lastRefTime > info.lastRefTime { return (previous, false) }
            entries[service] = info
            return (previous, true)
        }
        if stored, previous?.instanceSet != info.instanceSet || previous == nil { writeToDisk(info, for: service) }
        return (previous, stored)
    }

    private func writeToDisk(_ info: ServiceInfo, for service: ServiceName) {
        guard let file = file(for: service), let data = try? JSONEncoder().encode(info) else { return }
        try? FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Atomic: a crash mid-write never leaves a torn file for the next start to read.
        try? data.write(to: file, options: .atomic)
    }

    private func file(for service: ServiceName) -> URL? {
        // Names are validated by the server ([0-9a-zA-Z@.:_-]); percent-encoding keeps odd ones safe.
        let safe =
            service.groupedName.addingPercentEncoding(
                withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "@._-"))) ?? "_"
        return directory?.appendingPathComponent(safe + ".json")
    }
}
