import GRDB

/// The versioned schema. Migrations only ever move forward: a change is a new migration
/// appended here, never an edit of an old one (GRDB records which ones a file has run).
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: namespaces, services, persistent instances, cluster health checks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE namespace (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        description TEXT NOT NULL DEFAULT ''
                    );
                    CREATE TABLE service (
                        namespace TEXT NOT NULL,
                        grp TEXT NOT NULL,
                        name TEXT NOT NULL,
                        ephemeral INTEGER NOT NULL,
                        protect_threshold REAL NOT NULL,
                        metadata TEXT NOT NULL,
                        selector_type TEXT NOT NULL,
                        selector_expression TEXT,
                        PRIMARY KEY (namespace, grp, name)
                    );
                    CREATE TABLE persistent_instance (
                        namespace TEXT NOT NULL,
                        grp TEXT NOT NULL,
                        service TEXT NOT NULL,
                        ip TEXT NOT NULL,
                        port INTEGER NOT NULL,
                        cluster TEXT NOT NULL,
                        weight REAL NOT NULL,
                        healthy INTEGER NOT NULL,
                        enabled INTEGER NOT NULL,
                        metadata TEXT NOT NULL,
                        instance_id TEXT,
                        PRIMARY KEY (namespace, grp, service, ip, port)
                    );
                    CREATE TABLE cluster_health_check (
                        namespace TEXT NOT NULL,
                        grp TEXT NOT NULL,
                        service TEXT NOT NULL,
                        cluster TEXT NOT NULL,
                        type TEXT NOT NULL,
                        path TEXT NOT NULL,
                        expected_status INTEGER,
                        PRIMARY KEY (namespace, grp, service, cluster)
                    );
                    """)
        }
        migrator.registerMigration("v2: users, roles, permissions") { db in
            // Nacos's table and column names, so that an operator who knows Nacos knows these.
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        username TEXT PRIMARY KEY NOT NULL,
                        password TEXT NOT NULL
                    );
                    CREATE TABLE roles (
                        role TEXT NOT NULL,
                        username TEXT NOT NULL,
                        PRIMARY KEY (role, username)
                    );
                    CREATE TABLE permissions (
                        role TEXT NOT NULL,
                        resource TEXT NOT NULL,
                        action TEXT NOT NULL,
                        PRIMARY KEY (role, resource, action)
                    );
                    """)
        }
        return migrator
    }
}
