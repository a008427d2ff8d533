import GRDB
import RegistrarCore

// Users, roles and permissions: Nacos's `users`, `roles` and `permissions` tables.
extension SQLiteStore {
    static func applyAccess(_ change: AccessChange, _ db: Database) throws {
        switch change {
        case let .putUser(username, passwordHash):
            try db.execute(
                sql: "INSERT OR REPLACE INTO users (username, password) VALUES (?, ?)",
                arguments: [username, passwordHash])
        case let .deleteUser(username):
            try db.execute(sql: "DELETE FROM users WHERE username = ?", arguments: [username])
            try db.execute(sql: "DELETE FROM roles WHERE username = ?", arguments: [username])
        case let .bind(binding):
            try db.execute(
                sql: "INSERT OR REPLACE INTO roles (role, username) VALUES (?, ?)",
                arguments: [binding.role, binding.username])
        case let .unbind(role, username?):
            try db.execute(sql: "DELETE FROM roles WHERE role = ? AND username = ?", arguments: [role, username])
        case let .unbind(role, nil):
            try db.execute(sql: "DELETE FROM roles WHERE role = ?", arguments: [role])
            try db.execute(sql: "DELETE FROM permissions WHERE role = ?", arguments: [role])
        case let .grant(permission):
            try db.execute(
                sql: "INSERT OR REPLACE INTO permissions (role, resource, action) VALUES (?, ?, ?)",
                arguments: [permission.role, permission.resource, permission.action])
        case let .revoke(permission):
            try db.execute(
                sql: "DELETE FROM permissions WHERE role = ? AND resource = ? AND action = ?",
                arguments: [permission.role, permission.resource, permission.action])
        }
    }

    static func readAccess(_ db: Database) throws -> AccessModel {
        var model = AccessModel()
        for row in try Row.fetchAll(db, sql: "SELECT username, password FROM users ORDER BY username") {
            model.apply(.putUser(row["username"], passwordHash: row["password"]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT role, username FROM roles ORDER BY role, username") {
            model.apply(.bind(RoleBinding(role: row["role"], username: row["username"])))
        }
        for row in try Row.fetchAll(db, sql: "SELECT role, resource, action FROM permissions ORDER BY role, resource") {
            model.apply(.grant(Permission(role: row["role"], resource: row["resource"], action: row["action"])))
        }
        return model
    }
}
