/// The PostgreSQL schema, versioned like the SQLite one: migrations only move forward, a change
/// is a new entry appended here, and `registrar_schema` records which ones a database has run.
/// A member refuses a database whose schema is newer than the newest migration it knows.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var description: String
        /// One statement each: the extended query protocol runs one at a time.
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1,
            description: "namespaces, services, persistent instances, cluster health checks, users, roles, "
                + "permissions, change log",
            statements: [
                """
                CREATE TABLE namespace (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '')
                """,
                """
                CREATE TABLE service (
                    namespace TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
                    ephemeral BOOLEAN NOT NULL, protect_threshold DOUBLE PRECISION NOT NULL, metadata TEXT NOT NULL,
                    selector_type TEXT NOT NULL, selector_expression TEXT,
                    PRIMARY KEY (namespace, grp, name))
                """,
                """
                CREATE TABLE persistent_instance (
                    namespace TEXT NOT NULL, grp TEXT NOT NULL, service TEXT NOT NULL, ip TEXT NOT NULL,
                    port BIGINT NOT NULL, cluster TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL,
                    healthy BOOLEAN NOT NULL, enabled BOOLEAN NOT NULL, metadata TEXT NOT NULL, instance_id TEXT,
                    PRIMARY KEY (namespace, grp, service, ip, port))
                """,
                """
                CREATE TABLE cluster_health_check (
                    namespace TEXT NOT NULL, grp TEXT NOT NULL, service TEXT NOT NULL, cluster TEXT NOT NULL,
                    type TEXT NOT NULL, path TEXT NOT NULL, expected_status BIGINT,
                    PRIMARY KEY (namespace, grp, service, cluster))
                """,
                "CREATE TABLE users (username TEXT PRIMARY KEY, password TEXT NOT NULL)",
                "CREATE TABLE roles (role TEXT NOT NULL, username TEXT NOT NULL, PRIMARY KEY (role, username))",
                """
                CREATE TABLE permissions (
                    role TEXT NOT NULL, resource TEXT NOT NULL, action TEXT NOT NULL,
                    PRIMARY KEY (role, resource, action))
                """,
                // Every committed batch, as JSON, in commit order (writers hold one advisory lock).
                """
                CREATE TABLE change_log (
                    position BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, changes TEXT NOT NULL,
                    committed_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """,
                // How far the log has been pruned: a member behind this point reloads everything.
                "CREATE TABLE change_log_pruned (singleton BOOLEAN PRIMARY KEY DEFAULT true, through BIGINT NOT NULL)",
                "INSERT INTO change_log_pruned (through) VALUES (0)",
            ])
    ]

    static var newestVersion: Int { migrations.last!.version }
}
