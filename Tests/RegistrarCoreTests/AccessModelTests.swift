import RegistrarCore
import Testing

@Suite("Access model: users, roles, permission matching")
struct AccessModelTests {
    private func model(_ permissions: [Permission], roles: [RoleBinding]) -> AccessModel {
        var model = AccessModel()
        for binding in roles {
            model.apply(.putUser(binding.username, passwordHash: "x"))
            model.apply(.bind(binding))
        }
        for permission in permissions { model.apply(.grant(permission)) }
        return model
    }

    @Test func resourcesFillBlanksTheWayTheRegistryDoes() {
        #expect(
            NamingResource(namespace: "", group: nil, service: "orders").text == "public:DEFAULT_GROUP:naming/orders")
        #expect(NamingResource(namespace: "dev", group: "", service: "G@@orders").text == "dev:G:naming/orders")
        #expect(NamingResource(namespace: nil, group: "G", service: nil).text == "public:G:naming/*")
    }

    @Test func globsMatchWholeResourcesAcrossSeparators() {
        let orders = "public:DEFAULT_GROUP:naming/orders"
        #expect(Permission.matches(pattern: "public:*:*", resource: orders))
        #expect(Permission.matches(pattern: "*", resource: orders))
        #expect(Permission.matches(pattern: ":*:naming/ord*", resource: orders), "a leading ':' is public")
        #expect(Permission.matches(pattern: orders, resource: orders))
        #expect(!Permission.matches(pattern: "dev:*:*", resource: orders))
        #expect(!Permission.matches(pattern: "public:DEFAULT_GROUP:naming/order", resource: orders), "no prefix match")
        #expect(!Permission.matches(pattern: "public:OTHER:*", resource: orders))
        // Backtracking on a hostile pattern stays bounded and answers.
        let long = String(repeating: "a", count: 2000)
        #expect(!Permission.matches(pattern: String(repeating: "*a", count: 40) + "b", resource: long))
    }

    @Test func readDoesNotGrantWriteAndReadWriteGrantsBoth() {
        let model = model(
            [
                Permission(role: "reader", resource: "public:*:*", action: "r"),
                Permission(role: "writer", resource: "public:DEFAULT_GROUP:naming/orders", action: "rw"),
            ],
            roles: [RoleBinding(role: "reader", username: "ann"), RoleBinding(role: "writer", username: "bob")])
        let orders = NamingResource(namespace: "public", group: nil, service: "orders")
        let users = NamingResource(namespace: "public", group: nil, service: "users")
        #expect(model.allows("ann", .read, on: orders))
        #expect(!model.allows("ann", .write, on: orders))
        #expect(model.allows("bob", .read, on: orders) && model.allows("bob", .write, on: orders))
        #expect(!model.allows("bob", .read, on: users))
        #expect(!model.allows("carol", .read, on: orders), "a user with no role has no rights")
    }

    @Test func adminMayDoEverythingAndDeletingAUserRemovesItsRoles() {
        var model = model([], roles: [RoleBinding(role: AccessModel.adminRole, username: "nacos")])
        #expect(model.hasAdmin)
        #expect(model.allows("nacos", .write, on: NamingResource(namespace: "x", group: "y", service: "z")))
        model.apply(.deleteUser("nacos"))
        #expect(!model.hasAdmin && model.roles.isEmpty)
    }

    @Test func removingARoleFromEveryoneAlsoRemovesItsPermissions() {
        var model = model(
            [Permission(role: "reader", resource: "*", action: "r")],
            roles: [RoleBinding(role: "reader", username: "ann")])
        model.apply(.unbind(role: "reader", username: nil))
        #expect(model.roles.isEmpty && model.permissions.isEmpty)
    }
}
