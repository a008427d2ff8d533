import ArgumentParser
import Foundation
import Logging
import RegistrarStorage

/// `registrar db`: the PostgreSQL database a cluster shares (`serve --database`).
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Operate the PostgreSQL database that a cluster's members share.",
        subcommands: [Migrate.self, Import.self])

    struct Options: ParsableArguments {
        @Option(
            help: """
                postgres://user:pass@host:5432/db?sslmode=… (prefer REGISTRAR_DATABASE: a flag shows in the process list).
                """)
        var database: String?

        func open(_ verb: String, migrating: Bool = true) async throws -> PostgresStore {
            guard let text = database ?? ProcessInfo.processInfo.environment["REGISTRAR_DATABASE"], !text.isEmpty else {
                throw ValidationError("name the database with --database or REGISTRAR_DATABASE")
            }
            var logger = Logger(label: "registrar-db")
            logger.logLevel = .error
            do {
                let url = try DatabaseURL(text)
                return try await PostgresStore.open(
                    url, origin: "registrar db \(verb)", timeout: .seconds(2), migrating: migrating, logger: logger)
            } catch {
                throw DatabaseFailure(error.description)
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the schema migrations the database lacks (serve also does this at start).")

        @OptionGroup var options: Options

        func run() async throws {
            let store = try await options.open("migrate", migrating: false)
            let versions: (from: Int, to: Int)
            do {
                versions = try await store.migrate()
            } catch {
                await store.close()
                throw DatabaseFailure(error.description)
            }
            await store.close()
            print(
                versions.from == versions.to
                    ? "\(store.location): schema already at version \(versions.to)"
                    : "\(store.location): schema migrated from version \(versions.from) to \(versions.to)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a single node's data (its <data-dir>/registrar.sqlite) into an empty database.",
            discussion: """
                Stop the node first: its data file is locked while it runs. The import is one transaction, and \
                it refuses a database that already holds durable data.
                """)

        @Option(help: "The single node's data directory.")
        var from: String

        @OptionGroup var options: Options

        func run() async throws {
            let file = (from as NSString).appendingPathComponent(SQLiteStore.fileName)
            guard FileManager.default.fileExists(atPath: file) else {
                throw ValidationError("no \(SQLiteStore.fileName) in '\(from)': is that the node's --data-dir?")
            }
            let state: StoredState
            do {
                let source = try SQLiteStore(directory: from)
                defer { source.close() }
                state = try source.load()
            } catch {
                throw DatabaseFailure(error.description)
            }
            let target = try await options.open("import")
            do {
                guard try await target.load().isEmpty else {
                    throw StorageError(
                        "\(target.location) already holds durable data; import only into an empty database")
                }
                try await target.commit(state.allChanges)
            } catch {
                await target.close()
                throw DatabaseFailure("\(error)")
            }
            await target.close()
            print(
                "imported \(state.namespaces.count) namespace(s), \(state.services.count) service(s), "
                    + "\(state.healthChecks.count) cluster check(s), \(state.instances.count) persistent instance(s) "
                    + "and \(state.access.users.count) user(s) from \(file) into \(target.location)")
        }
    }
}

/// A database failure, reported as the one `Error:` line.
struct DatabaseFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
