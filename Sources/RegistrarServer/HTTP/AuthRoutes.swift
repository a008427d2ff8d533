import Hummingbird
import RegistrarCore
import RegistrarWire

/// Login, the first admin, and the management of users, roles and permissions, under the v1
/// paths (`/nacos/v1/auth/…`, answers as Nacos 2.x's RestResult) and the v3 paths
/// (`/nacos/v3/auth/…`, answers as Nacos 3.x's Result). `AccessMiddleware` has already
/// required a login for the management calls; each call here checks admin (or, to change a
/// password, the user itself).
///
/// Threading: handlers run on the request's event loop; bcrypt runs on the blocking pool.
struct AuthRoutes: V1RouteGroup {
    let access: AccessControl
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        for path in ["/nacos/v1/auth/login", "/nacos/v1/auth/users/login", "/nacos/v3/auth/user/login"] {
            router.post(RouterPath(path)) { request, context in
                try await routes.login(try await routes.reader.read(request, context), from: context.remoteIP ?? "")
            }
        }
        router.post("/nacos/v3/auth/user/admin") { request, context in
            try await routes.initialiseAdmin(try await routes.reader.read(request, context), context)
        }
        for style in [AnswerStyle.v1, .v3] {
            add(style, to: router)
        }
    }

    private func add(_ style: AnswerStyle, to router: Router<V1RequestContext>) {
        let routes = self
        let (users, roles, permissions) =
            style == .v1
            ? ("/nacos/v1/auth/users", "/nacos/v1/auth/roles", "/nacos/v1/auth/permissions")
            : ("/nacos/v3/auth/user", "/nacos/v3/auth/role", "/nacos/v3/auth/permission")
        /// An admin's read: a page in the style's shape.
        func list(_ path: String, _ page: @escaping @Sendable (V1Parameters) throws -> Response) {
            for path in [path, path + "/list"] {
                router.get(RouterPath(path)) { request, context in
                    let parameters = try await routes.reader.read(request, context)
                    try routes.requireAdmin(context)
                    return try page(parameters)
                }
            }
        }
        /// An admin's change: the body returns the message of its answer.
        func change(
            _ method: HTTPRequest.Method, _ path: String,
            _ body: @escaping @Sendable (V1Parameters) async throws -> String
        ) {
            router.on(RouterPath(path), method: method) { request, context in
                let parameters = try await routes.reader.read(request, context)
                try routes.requireAdmin(context)
                return style.ok(try await routes.run { try await body(parameters) })
            }
        }
        list(users) { parameters in try routes.listUsers(parameters, style) }
        change(.post, users) { parameters in
            try await routes.access.createUser(
                try parameters.required("username"), password: try parameters.required("password"))
            return "create user ok!"
        }
        change(.delete, users) { parameters in
            try await routes.access.deleteUser(try parameters.required("username"))
            return "delete user ok!"
        }
        router.put(RouterPath(users)) { request, context in
            try await routes.changePassword(try await routes.reader.read(request, context), context, style)
        }
        list(roles) { parameters in try routes.listRoles(parameters, style) }
        change(.post, roles) { parameters in
            try await routes.access.bind(role: try parameters.required("role"), to: try parameters.required("username"))
            return "add role ok!"
        }
        change(.delete, roles) { parameters in
            let username = parameters.optional("username")
            try await routes.access.unbind(role: try parameters.required("role"), from: username)
            return "delete role of user \(username ?? "*") ok!"
        }
        list(permissions) { parameters in try routes.listPermissions(parameters, style) }
        change(.post, permissions) { parameters in
            try await routes.access.grant(try Self.permission(parameters))
            return "add permission ok!"
        }
        change(.delete, permissions) { parameters in
            try await routes.access.revoke(try Self.permission(parameters))
            return "delete permission ok!"
        }
    }

    private static func permission(_ parameters: V1Parameters) throws(V1Error) -> Permission {
        Permission(
            role: try parameters.required("role"), resource: try parameters.required("resource"),
            action: try parameters.required("action"))
    }

    // MARK: Login and the first admin

    private func login(_ parameters: V1Parameters, from ip: String) async throws -> Response {
        let username = try parameters.required("username")
        let password = try parameters.required("password")
        do {
            let login = try await access.login(
                username: username, password: password, from: ip, now: wallClockMillis() / 1000)
            var response = V1Response.json(
                V1JSON.login(
                    accessToken: login.accessToken, tokenTTL: Int(login.tokenTTL), globalAdmin: login.globalAdmin,
                    username: login.username))
            response.headers[.authorization] = "Bearer \(login.accessToken)"
            return response
        } catch AccessControl.LoginFailure.invalidCredentials {
            throw V1Error(.forbidden, "invalid username or password")
        } catch let AccessControl.LoginFailure.throttled(retryAfter) {
            let seconds = (retryAfter + 999) / 1000
            var response = V1Response.text(
                "too many failed logins from this address; retry in \(seconds) s", status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        }
    }

    private func initialiseAdmin(_ parameters: V1Parameters, _ context: V1RequestContext) async throws -> Response {
        guard AccessControl.isLoopback(context.remoteIP) else {
            throw V1Error(.forbidden, "the first admin password can be set only from the server's own host (loopback)")
        }
        let password = try parameters.required("password")
        guard try await run({ try await access.initialiseAdmin(password: password) }) else {
            throw V1Error(.conflict, "an admin already exists; log in as it to manage users")
        }
        return AnswerStyle.v3.ok("admin user '\(AccessModel.initialAdmin)' created")
    }

    // MARK: Lists (an admin's, checked by `list`)

    private func listUsers(_ parameters: V1Parameters, _ style: AnswerStyle) throws -> Response {
        try style.page(access.snapshot.users.keys.sorted(), parameters) { json, name in
            json.beginObject()
            json.key("username"); json.string(name)
            json.endObject()
        }
    }

    private func listRoles(_ parameters: V1Parameters, _ style: AnswerStyle) throws -> Response {
        let filter = parameters.optional("username")
        let bindings = access.snapshot.roles.filter { filter == nil || $0.username == filter }
            .sorted { ($0.role, $0.username) < ($1.role, $1.username) }
        return try style.page(bindings, parameters) { json, binding in
            json.beginObject()
            json.key("role"); json.string(binding.role)
            json.key("username"); json.string(binding.username)
            json.endObject()
        }
    }

    private func listPermissions(_ parameters: V1Parameters, _ style: AnswerStyle) throws -> Response {
        let filter = parameters.optional("role")
        let permissions = access.snapshot.permissions.filter { filter == nil || $0.role == filter }
            .sorted { ($0.role, $0.resource, $0.action) < ($1.role, $1.resource, $1.action) }
        return try style.page(permissions, parameters) { json, permission in
            json.beginObject()
            json.key("role"); json.string(permission.role)
            json.key("resource"); json.string(permission.resource)
            json.key("action"); json.string(permission.action)
            json.endObject()
        }
    }

    /// An admin may change anyone's password; a user its own.
    private func changePassword(_ parameters: V1Parameters, _ context: V1RequestContext, _ style: AnswerStyle)
        async throws -> Response
    {
        let username = try parameters.required("username")
        let password = try parameters.optional("newPassword") ?? parameters.required("password")
        if let caller = context.username, caller != username {
            try requireAdmin(context)
        }
        try await run { try await access.changePassword(username, to: password) }
        return style.ok("update user ok!")
    }

    // MARK: Helpers

    /// With auth off or on loopback in protected mode there is no caller: the operator is local.
    private func requireAdmin(_ context: V1RequestContext) throws(V1Error) {
        guard let username = context.username else { return }
        if case let .refused(reason) = access.authorize(username, .admin) {
            throw V1Error(.forbidden, reason)
        }
    }

    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AccessError {
            throw V1Error(.init(code: error.code), error.description)
        }
    }
}

/// How a management call answers: Nacos 2.x's RestResult (`code` 200) or 3.x's Result (`code` 0).
enum AnswerStyle: Sendable {
    case v1, v3

    func ok(_ message: String) -> Response {
        guard self == .v1 else { return Envelope.ok(message) }
        var json = JSONWriter(capacity: 96)
        json.beginObject()
        json.key("code"); json.int(200)
        json.key("message"); json.string(message)
        json.key("data"); json.raw("null".utf8)
        json.endObject()
        return V1Response.json(json.bytes)
    }

    /// A page of `items` (`pageNo` from 1, `pageSize` up to 1000) in Nacos's Page shape.
    func page<Item>(
        _ items: [Item], _ parameters: V1Parameters, _ write: (inout JSONWriter, Item) -> Void
    ) throws(V1Error) -> Response {
        let page = try Page(parameters)
        guard self == .v3 else {
            var json = JSONWriter(capacity: 128)
            page.write(items, into: &json, write)
            return V1Response.json(json.bytes)
        }
        return Envelope.ok { page.write(items, into: &$0, write) }
    }
}
