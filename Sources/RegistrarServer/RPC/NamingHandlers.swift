import RegistrarCore
import RegistrarWire

/// The naming requests, each turned into a registry command and a typed response.
///
/// Threading: runs on the connection's event loop.
struct NamingHandlers {
    let connection: RPCConnection
    let requestId: String?

    private var naming: NamingContext { connection.front.naming }
    private var validation: Validation { naming.validation }

    private func failure(_ error: RegistryError, extra: (inout JSONWriter) -> Void = { _ in }) -> Reply {
        connection.logger.debug("request refused: \(error)")
        return Reply(type: "", json: ResponseBody.failure(error, requestId: requestId, extra: extra))
    }

    /// The service a naming request names. Writes are validated by the registry itself, so
    /// only reads ask for the check here.
    private func serviceKey(_ request: some NamingRequestFields, validate: Bool = true) throws(RegistryError)
        -> ServiceKey
    {
        let key = ServiceKey(namespace: request.namespace, group: request.groupName, name: request.serviceName ?? "")
        if validate { try validation.check(service: key) }
        return key
    }

    private func makeInstance(_ body: InstanceBody?) throws(RegistryError) -> Instance {
        guard let body else { throw .paramCheck("Param 'instance' is illegal, instance is null") }
        guard let ip = body.ip, !ip.isEmpty else { throw .paramCheck("Param 'ip' is illegal, ip is blank") }
        guard let port = body.port else { throw .paramCheck("Param 'port' is illegal, port is missing") }
        return Instance(
            ip: ip, port: port, weight: body.weight ?? 1.0, healthy: body.healthy ?? true,
            enabled: body.enabled ?? true,
            clusterName: body.clusterName, metadata: body.metadata ?? [:], customInstanceId: body.instanceId
        )
    }

    func instance(_ request: InstanceRequest) -> Reply {
        let type = request.type ?? ""
        let echoType: (inout JSONWriter) -> Void = { json in
            json.key("type"); json.string(type)
        }
        do throws(RegistryError) {
            let service = try serviceKey(request, validate: type != "registerInstance")
            let changed: [ServiceKey]
            switch type {
            case "registerInstance":
                let instance = try makeInstance(request.instance)
                changed = try naming.store.withRegistry { (registry) throws(RegistryError) in
                    try registry.publish(client: connection.id, service: service, instances: [instance])
                }
            case "deregisterInstance":
                changed = naming.store.withRegistry { $0.withdraw(client: connection.id, service: service) }
            default:
                throw .invalidParameter("Unsupported request type \(type)")
            }
            return changedReply(changed, json: ResponseBody.instance(type: type, requestId: requestId))
        } catch {
            return failure(error, extra: echoType)
        }
    }

    /// A write's reply: pushes go out only after the response is written, so the writer hears
    /// "done" before its own subscribers hear of the change. (The Rust SDK's Python binding can
    /// deadlock when a push reaches a listener while the same process waits for a response.)
    private func changedReply(_ changed: [ServiceKey], json: [UInt8]) -> Reply {
        var reply = Reply(type: "", json: json)
        if !changed.isEmpty {
            let changes = naming.changes
            reply.afterResponse = { changes.servicesChanged(changed) }
        }
        return reply
    }

    /// `PersistentInstanceRequest`: the instance belongs to `ip:port#false`, not to this
    /// connection. The response goes out only once the write is on disk.
    func persistentInstance(_ request: InstanceRequest) -> Reply {
        let type = request.type ?? ""
        let write: DurableWrite
        do throws(RegistryError) {
            let service = try serviceKey(request, validate: false)
            let instance = try makeInstance(request.instance)
            switch type {
            case "registerInstance": write = .registerPersistent(instance, into: service)
            case "deregisterInstance":
                try validation.check(service: service)
                write = .deregisterPersistent(ip: instance.ip, port: instance.port, from: service)
            default: throw .invalidParameter("Unsupported request type \(type)")
            }
        } catch {
            return failure(error) { json in
                json.key("type"); json.string(type)
            }
        }
        let durable = naming.durable
        let requestId = self.requestId
        let logger = connection.logger
        var reply = Reply(type: "", json: [])
        reply.deferred = {
            do throws(RegistryError) {
                let changed = try await durable.submit(write)
                return (ResponseBody.instance(type: type, requestId: requestId), changed)
            } catch {
                logger.debug("request refused: \(error)")
                return (
                    ResponseBody.failure(error, requestId: requestId) { json in
                        json.key("type"); json.string(type)
                    }, []
                )
            }
        }
        return reply
    }

    func batch(_ request: BatchInstanceRequest) -> Reply {
        let type = request.type ?? ""
        let echoType: (inout JSONWriter) -> Void = { json in
            json.key("type"); json.string(type)
        }
        do throws(RegistryError) {
            let service = try serviceKey(request, validate: false)
            guard type == "batchRegisterInstance" else { throw .invalidParameter("Unsupported request type \(type)") }
            // map sizes the array exactly; appending would leave up to half of it unused
            // for as long as the instances stay registered.
            let instances = try (request.instances ?? []).map { (body) throws(RegistryError) in try makeInstance(body) }
            let changed = try naming.store.withRegistry { (registry) throws(RegistryError) in
                try registry.publish(client: connection.id, service: service, instances: instances)
            }
            return changedReply(changed, json: ResponseBody.instance(type: type, requestId: requestId))
        } catch {
            return failure(error, extra: echoType)
        }
    }

    func query(_ request: ServiceQueryRequest) -> Reply {
        do throws(RegistryError) {
            let service = try serviceKey(request)
            let clusters = request.cluster ?? ""
            try validation.checkClusters(clusters)
            let encoded = naming.store.encodedServiceInfo(
                service, filter: SnapshotFilter(clusters: clusters, healthyOnly: request.healthyOnly ?? false))
            return Reply(type: "", json: ResponseBody.serviceInfo(encoded.json, requestId: requestId))
        } catch {
            return failure(error)
        }
    }

    func subscribe(_ request: SubscribeServiceRequest) -> Reply {
        do throws(RegistryError) {
            let service = try serviceKey(request)
            let clusters = request.clusters ?? ""
            let subscribing = request.subscribe ?? true
            if subscribing {
                _ = try naming.store.withRegistry { (registry) throws(RegistryError) in
                    try registry.subscribe(client: connection.id, service: service, clusters: clusters)
                }
            } else {
                try validation.checkClusters(clusters)
                naming.store.withRegistry { $0.unsubscribe(client: connection.id, service: service) }
            }
            let encoded = naming.store.encodedServiceInfo(service, filter: SnapshotFilter(clusters: clusters))
            // Before the answer goes out: a change pushed from now on is one the answer lacks.
            connection.noteSubscription(service, answered: subscribing ? encoded.revision : nil)
            return Reply(
                type: "", json: ResponseBody.serviceInfo(encoded.json, message: "success", requestId: requestId))
        } catch {
            return failure(error)
        }
    }

    func listServices(_ request: ServiceListRequest) -> Reply {
        do throws(RegistryError) {
            let namespace = ServiceKey.normalizedNamespace(request.namespace)
            let group = (request.groupName?.isEmpty ?? true) ? ServiceKey.defaultGroup : request.groupName!
            try validation.checkNamespace(namespace)
            try validation.checkGroup(group)
            let pageNo = request.pageNo ?? 1
            let pageSize = request.pageSize ?? 10
            guard pageNo >= 1, (1...10_000).contains(pageSize) else {
                throw .paramCheck(
                    "Param 'pageNo/pageSize' is illegal, pageNo must be at least 1 and pageSize within 1...10000.")
            }
            let (count, names) = naming.store.read {
                $0.listServices(namespace: namespace, group: group, pageNo: pageNo, pageSize: pageSize)
            }
            return Reply(type: "", json: ResponseBody.serviceList(count: count, names: names, requestId: requestId))
        } catch {
            return failure(error)
        }
    }
}
