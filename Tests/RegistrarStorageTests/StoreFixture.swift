import Foundation
import Logging
import RegistrarStorage

/// A store under test, opened (and reopened) by kind: a SQLite file in a temp directory, or a
/// fresh database in the throwaway PostgreSQL that scripts/test starts
/// (`REGISTRAR_TEST_DATABASE`, a superuser URL). Without that variable only SQLite runs.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    var description: String { rawValue }

    static var available: [StoreKind] { TestDatabase.adminURL == nil ? [.sqlite] : allCases }
}

struct StoreFixture: Sendable {
    let kind: StoreKind
    /// The directory (SQLite) or the database URL (PostgreSQL).
    let location: String

    static func make(_ kind: StoreKind) throws -> StoreFixture {
        switch kind {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "registrar-store-\(UUID().uuidString)"
            ).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return StoreFixture(kind: kind, location: path)
        case .postgres:
            return StoreFixture(kind: kind, location: try TestDatabase.create())
        }
    }

    func open() async throws -> any DurableStore {
        switch kind {
        case .sqlite: return try SQLiteStore(directory: location)
        case .postgres: return try await openShared()
        }
    }

    func openShared(origin: String = "test") async throws -> PostgresStore {
        try await PostgresStore.open(try DatabaseURL(location), origin: origin, logger: Logger(label: "test-store"))
    }
}

/// Databases in the tests' PostgreSQL, made with psql (one per test, so tests run in parallel).
enum TestDatabase {
    static let adminURL = ProcessInfo.processInfo.environment["REGISTRAR_TEST_DATABASE"]

    /// Creates an empty database; returns its URL.
    static func create() throws -> String {
        guard let admin = adminURL, var url = URLComponents(string: admin) else {
            throw TestDatabaseError("REGISTRAR_TEST_DATABASE is not set (scripts/test sets it)")
        }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try psql(admin, "CREATE DATABASE \(name)")
        url.path = "/" + name
        return url.string!
    }

    /// Runs one SQL command with psql, failing on any error.
    static func psql(_ url: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestDatabaseError("psql failed: \(text)")
        }
    }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
