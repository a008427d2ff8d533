import Hummingbird
import RegistrarCore
import RegistrarWire

extension ServiceOperations {
    /// `GET /nacos/v3/admin/ns/service/list`: a Page of Nacos `ServiceView`s
    /// (`{name, groupName, clusterCount, ipCount, healthyInstanceCount, triggerFlag}`).
    /// `groupNameParam` and `serviceNameParam` filter by substring (all groups when absent);
    /// `ignoreEmptyService=true` leaves out services without instances.
    func serviceViewPage(_ parameters: V1Parameters) throws -> Response {
        let namespace = ServiceKey.normalizedNamespace(parameters.optional("namespaceId"))
        try naming.validation.checkNamespace(namespace)
        let group = parameters.optional("groupNameParam") ?? parameters.optional("groupName")
        let name = parameters.optional("serviceNameParam")
        let ignoreEmpty = parameters.bool("ignoreEmptyService", default: false)
        let page = try Page(parameters)
        struct View {
            var service: ServiceKey
            var clusters: Int
            var instances: Int
            var healthy: Int
            var subscribers: Int
        }
        let views: [View] = naming.store.read { registry in
            registry.visibleServices(namespace: namespace)
                .filter { (group == nil || $0.group.contains(group!)) && (name == nil || $0.name.contains(name!)) }
                .sorted { ($0.group, $0.name) < ($1.group, $1.name) }
                .map { service in
                    let hosts = registry.snapshot(of: service).hosts
                    return View(
                        service: service, clusters: Set(hosts.map(\.instance.clusterName)).count,
                        instances: hosts.count, healthy: hosts.count { $0.instance.healthy },
                        subscribers: registry.subscribers(of: service).count)
                }
                .filter { !ignoreEmpty || $0.instances > 0 }
        }
        return Envelope.ok(capacity: 128 + min(views.count, page.pageSize) * 160) { json in
            page.write(views, into: &json) { json, view in
                json.beginObject()
                json.key("name"); json.string(view.service.name)
                json.key("groupName"); json.string(view.service.group)
                json.key("clusterCount"); json.int(view.clusters)
                json.key("ipCount"); json.int(view.instances)
                json.key("healthyInstanceCount"); json.int(view.healthy)
                json.key("subscriberCount"); json.int(view.subscribers)
                json.key("triggerFlag"); json.string("false")
                json.endObject()
            }
        }
    }
}
