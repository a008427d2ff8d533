import Foundation
import Logging
import PostgresNIO
import RegistrarCore

// The rows: the same tables and columns as the SQLite store, written with upserts.
extension PostgresStore {
    /// Applies `changes` in order. Each run of instance upserts is one statement: the writes of
    /// all members are serialized by the change-log lock, so round trips under it are the rate.
    static func apply(_ changes: [StoredChange], _ connection: PostgresConnection, logger: Logger) async throws {
        var upserts: [(ServiceKey, Instance)] = []
        for change in changes {
            if case let .putInstance(service, instance) = change {
                upserts.append((service, instance))
                continue
            }
            try await putInstances(upserts, connection, logger: logger)
            upserts.removeAll()
            try await apply(change, connection, logger: logger)
        }
        try await putInstances(upserts, connection, logger: logger)
    }

    private static func putInstances(
        _ upserts: [(ServiceKey, Instance)], _ connection: PostgresConnection, logger: Logger
    ) async throws {
        guard upserts.count > 1 else {
            if let (service, instance) = upserts.first {
                try await apply(.putInstance(service, instance), connection, logger: logger)
            }
            return
        }
        // One statement may not upsert a row twice: the last write of each instance wins.
        var latest: [InstanceRow: Int] = [:]
        for (index, (service, instance)) in upserts.enumerated() {
            latest[InstanceRow(service: service, ip: instance.ip, port: instance.port)] = index
        }
        let rows = latest.values.sorted().map { upserts[$0] }
        let metadata = try rows.map { try MetadataColumn.encode($0.1.metadata) }
        try await connection.query(
            """
            INSERT INTO persistent_instance
            (namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata, instance_id)
            SELECT namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata,
                   CASE WHEN has_id THEN instance_id END
            FROM unnest(\(rows.map(\.0.namespace)), \(rows.map(\.0.group)), \(rows.map(\.0.name)),
                        \(rows.map(\.1.ip)), \(rows.map(\.1.port)), \(rows.map(\.1.clusterName)),
                        \(rows.map(\.1.weight)), \(rows.map(\.1.healthy)), \(rows.map(\.1.enabled)), \(metadata),
                        \(rows.map { $0.1.customInstanceId ?? "" }), \(rows.map { $0.1.customInstanceId != nil }))
                 AS row(namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata,
                        instance_id, has_id)
            ON CONFLICT (namespace, grp, service, ip, port) DO UPDATE SET cluster = EXCLUDED.cluster,
                weight = EXCLUDED.weight, healthy = EXCLUDED.healthy, enabled = EXCLUDED.enabled,
                metadata = EXCLUDED.metadata, instance_id = EXCLUDED.instance_id
            """, logger: logger)
    }

    /// The primary key of `persistent_instance`.
    private struct InstanceRow: Hashable {
        var service: ServiceKey
        var ip: String
        var port: Int
    }

    static func apply(_ change: StoredChange, _ connection: PostgresConnection, logger: Logger) async throws {
        switch change {
        case let .putInstance(s, instance):
            try await connection.query(
                """
                INSERT INTO persistent_instance
                (namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata, instance_id)
                VALUES (\(s.namespace), \(s.group), \(s.name), \(instance.ip), \(instance.port), \(instance.clusterName),
                        \(instance.weight), \(instance.healthy), \(instance.enabled), \(try MetadataColumn.encode(instance.metadata)),
                        \(instance.customInstanceId))
                ON CONFLICT (namespace, grp, service, ip, port) DO UPDATE SET cluster = EXCLUDED.cluster,
                    weight = EXCLUDED.weight, healthy = EXCLUDED.healthy, enabled = EXCLUDED.enabled,
                    metadata = EXCLUDED.metadata, instance_id = EXCLUDED.instance_id
                """, logger: logger)
        case let .deleteInstance(s, ip, port):
            try await connection.query(
                """
                DELETE FROM persistent_instance
                WHERE namespace = \(s.namespace) AND grp = \(s.group) AND service = \(s.name) AND ip = \(ip) AND port = \(port)
                """, logger: logger)
        case let .setHealth(s, ip, port, healthy):
            try await connection.query(
                """
                UPDATE persistent_instance SET healthy = \(healthy)
                WHERE namespace = \(s.namespace) AND grp = \(s.group) AND service = \(s.name) AND ip = \(ip) AND port = \(port)
                """, logger: logger)
        case let .putService(s, metadata):
            try await connection.query(
                """
                INSERT INTO service
                (namespace, grp, name, ephemeral, protect_threshold, metadata, selector_type, selector_expression)
                VALUES (\(s.namespace), \(s.group), \(s.name), \(metadata.ephemeral), \(metadata.protectThreshold),
                        \(try MetadataColumn.encode(metadata.metadata)), \(metadata.selector.type), \(metadata.selector.expression))
                ON CONFLICT (namespace, grp, name) DO UPDATE SET ephemeral = EXCLUDED.ephemeral,
                    protect_threshold = EXCLUDED.protect_threshold, metadata = EXCLUDED.metadata,
                    selector_type = EXCLUDED.selector_type, selector_expression = EXCLUDED.selector_expression
                """, logger: logger)
        case let .deleteService(s):
            try await connection.query(
                "DELETE FROM service WHERE namespace = \(s.namespace) AND grp = \(s.group) AND name = \(s.name)",
                logger: logger)
            try await connection.query(
                """
                DELETE FROM cluster_health_check
                WHERE namespace = \(s.namespace) AND grp = \(s.group) AND service = \(s.name)
                """, logger: logger)
        case let .putNamespace(info):
            try await connection.query(
                """
                INSERT INTO namespace (id, name, description) VALUES (\(info.id), \(info.name), \(info.description))
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description
                """, logger: logger)
        case let .deleteNamespace(id):
            try await connection.query("DELETE FROM namespace WHERE id = \(id)", logger: logger)
        case let .putHealthCheck(s, cluster, check):
            try await connection.query(
                """
                INSERT INTO cluster_health_check (namespace, grp, service, cluster, type, path, expected_status)
                VALUES (\(s.namespace), \(s.group), \(s.name), \(cluster), \(check.kind.rawValue), \(check.path),
                        \(check.expectedStatus))
                ON CONFLICT (namespace, grp, service, cluster) DO UPDATE SET type = EXCLUDED.type,
                    path = EXCLUDED.path, expected_status = EXCLUDED.expected_status
                """, logger: logger)
        case let .access(change):
            try await applyAccess(change, connection, logger: logger)
        }
    }

    private static func applyAccess(_ change: AccessChange, _ connection: PostgresConnection, logger: Logger)
        async throws
    {
        switch change {
        case let .putUser(username, passwordHash):
            try await connection.query(
                """
                INSERT INTO users (username, password) VALUES (\(username), \(passwordHash))
                ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password
                """, logger: logger)
        case let .deleteUser(username):
            try await connection.query("DELETE FROM users WHERE username = \(username)", logger: logger)
            try await connection.query("DELETE FROM roles WHERE username = \(username)", logger: logger)
        case let .bind(binding):
            try await connection.query(
                """
                INSERT INTO roles (role, username) VALUES (\(binding.role), \(binding.username)) ON CONFLICT DO NOTHING
                """, logger: logger)
        case let .unbind(role, username?):
            try await connection.query(
                "DELETE FROM roles WHERE role = \(role) AND username = \(username)", logger: logger)
        case let .unbind(role, nil):
            try await connection.query("DELETE FROM roles WHERE role = \(role)", logger: logger)
            try await connection.query("DELETE FROM permissions WHERE role = \(role)", logger: logger)
        case let .grant(p):
            try await connection.query(
                """
                INSERT INTO permissions (role, resource, action) VALUES (\(p.role), \(p.resource), \(p.action))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        case let .revoke(p):
            try await connection.query(
                """
                DELETE FROM permissions WHERE role = \(p.role) AND resource = \(p.resource) AND action = \(p.action)
                """, logger: logger)
        }
    }

    static func readState(_ connection: PostgresConnection, logger: Logger) async throws -> StoredState {
        var state = StoredState()
        for try await (id, name, description) in try await connection.query(
            "SELECT id, name, description FROM namespace ORDER BY id", logger: logger
        ).decode((String, String, String).self) {
            state.namespaces.append(NamespaceInfo(id: id, name: name, description: description))
        }
        for try await (namespace, group, name, ephemeral, threshold, metadata, selector, expression)
            in try await connection
            .query(
                """
                SELECT namespace, grp, name, ephemeral, protect_threshold, metadata, selector_type, selector_expression
                FROM service ORDER BY namespace, grp, name
                """, logger: logger
            ).decode((String, String, String, Bool, Double, String, String, String?).self)
        {
            let stored = ServiceMetadata(
                protectThreshold: threshold, metadata: try MetadataColumn.decode(metadata),
                selector: ServiceSelector(type: selector, expression: expression), ephemeral: ephemeral)
            state.services.append((ServiceKey(namespace: namespace, group: group, name: name), stored))
        }
        for try await (namespace, group, service, ip, port, cluster, weight, healthy, enabled, metadata, id)
            in try await connection.query(
                """
                SELECT namespace, grp, service, ip, port, cluster, weight, healthy, enabled, metadata, instance_id
                FROM persistent_instance ORDER BY namespace, grp, service, ip, port
                """, logger: logger
            ).decode((String, String, String, String, Int, String, Double, Bool, Bool, String, String?).self)
        {
            let instance = Instance(
                ip: ip, port: port, weight: weight, healthy: healthy, enabled: enabled, clusterName: cluster,
                metadata: try MetadataColumn.decode(metadata), customInstanceId: id)
            state.instances.append((ServiceKey(namespace: namespace, group: group, name: service), instance))
        }
        for try await (namespace, group, service, cluster, type, path, expected) in try await connection.query(
            """
            SELECT namespace, grp, service, cluster, type, path, expected_status
            FROM cluster_health_check ORDER BY namespace, grp, service, cluster
            """, logger: logger
        ).decode((String, String, String, String, String, String, Int?).self) {
            let check = HealthCheckSpec(
                kind: HealthCheckSpec.Kind(rawValue: type) ?? .tcp, path: path, expectedStatus: expected)
            state.healthChecks.append((ServiceKey(namespace: namespace, group: group, name: service), cluster, check))
        }
        for try await (username, password) in try await connection.query(
            "SELECT username, password FROM users ORDER BY username", logger: logger
        ).decode((String, String).self) {
            state.access.apply(.putUser(username, passwordHash: password))
        }
        for try await (role, username) in try await connection.query(
            "SELECT role, username FROM roles ORDER BY role, username", logger: logger
        ).decode((String, String).self) {
            state.access.apply(.bind(RoleBinding(role: role, username: username)))
        }
        for try await (role, resource, action) in try await connection.query(
            "SELECT role, resource, action FROM permissions ORDER BY role, resource", logger: logger
        ).decode((String, String, String).self) {
            state.access.apply(.grant(Permission(role: role, resource: resource, action: action)))
        }
        for try await position in try await connection.query(
            "SELECT GREATEST(COALESCE(MAX(position), 0), (SELECT through FROM change_log_pruned)) FROM change_log",
            logger: logger
        ).decode(Int64.self) {
            state.position = position
        }
        return state
    }

    // MARK: Encoding

    static func encode(_ changes: [StoredChange]) throws(StorageError) -> String {
        do {
            return String(decoding: try JSONEncoder().encode(changes), as: UTF8.self)
        } catch {
            throw StorageError("cannot encode a change for the change log: \(error)")
        }
    }

    /// PostgreSQL's own words (postgres-nio hides them from `description`), and whether the
    /// failure means the database is unreachable rather than that it refused this write.
    static func describe(_ error: any Error) -> (String, unavailable: Bool) {
        if let error = error as? PostgresTransactionError,
            let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError
        {
            return describe(inner)
        }
        guard let error = error as? PSQLError else { return ("\(error)", error is CancellationError) }
        if let server = error.serverInfo, let message = server[.message] {
            let state = server[.sqlState] ?? ""
            // Class 08: connection exceptions; 57P: the server is shutting down; 53: out of resources.
            let unavailable = state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
            return ("\(message) (SQLSTATE \(state))", unavailable)
        }
        let reason = error.underlying.map { "\(error.code): \($0)" } ?? "\(error.code)"
        return (reason, error.code != .server)
    }
}
