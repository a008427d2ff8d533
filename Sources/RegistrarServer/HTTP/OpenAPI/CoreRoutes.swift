import Hummingbird
import RegistrarWire

/// The core endpoints of the v2 and v3 APIs: cluster nodes (`/nacos/v2/core/cluster/node/…`,
/// `/nacos/v3/admin/core/cluster/node/list`) and the v3 probes
/// (`/nacos/v3/admin/core/state/liveness|readiness`), which the Java 3.x client uses as its
/// health fallback.
///
/// Threading: handlers run on the request's event loop.
struct CoreRoutes: V1RouteGroup {
    let readiness: Readiness
    let members: MemberDirectory
    let reader: V1ParameterReader

    static let states = ["STARTING", "UP", "SUSPICIOUS", "DOWN", "ISOLATION"]

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let api = OpenAPIRouter(router: router, reader: reader)
        for prefix in ["/nacos/v2/core/cluster/node", "/nacos/v3/admin/core/cluster/node"] {
            api.on(.get, prefix + "/self") { _, _ in
                Envelope.ok { V1JSON.member(routes.members.me(), into: &$0) }
            }
            api.on(.get, prefix + "/list") { parameters, _ in
                // `address` is a prefix of ip:port; `state` one of Nacos's node states, any case.
                let address = parameters.optional("address")
                let state = parameters.optional("state")?.uppercased()
                if let state, !Self.states.contains(state) {
                    throw V1Error(
                        .badRequest, "Illegal state: \(state) (one of \(Self.states.joined(separator: ", ")))",
                        code: .illegalState)
                }
                let listed = routes.members.all().filter { member in
                    (address == nil || "\(member.ip):\(member.port)".hasPrefix(address!))
                        && (state == nil || member.state == state)
                }
                return Envelope.ok { json in
                    json.beginArray()
                    for member in listed { V1JSON.member(member, into: &json) }
                    json.endArray()
                }
            }
        }
        api.on(.get, "/nacos/v2/core/cluster/node/self/health") { _, _ in
            Envelope.ok(routes.members.status)
        }
        api.on(.get, "/nacos/v3/admin/core/state/liveness") { _, _ in Envelope.ok() }
        api.on(.get, "/nacos/v3/admin/core/state/readiness") { _, _ in
            if let problem = routes.readiness.problem {
                throw V1Error(.serviceUnavailable, problem, code: .serverError)
            }
            return Envelope.ok()
        }
    }
}
