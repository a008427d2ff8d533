/// Client inspection, for the operator APIs (`/nacos/v2/ns/client…`, `/nacos/v3/admin/ns/client…`).
extension Registry {
    /// What the registry knows of one client.
    public struct ClientView: Sendable, Equatable {
        public var id: ClientID
        public var kind: ClientKind
        /// Replicas: the member that owns the client.
        public var owner: String?
        /// What the client publishes, by service (instances as published, before operator edits).
        public var publications: [ServiceKey: [Instance]]
        public var subscriptions: Set<ServiceKey>
    }

    /// Every client id, sorted (ids are unique, so the order is stable across calls).
    public func clientIds() -> [ClientID] {
        clients.keys.sorted()
    }

    public func client(_ id: ClientID) -> ClientView? {
        guard let record = clients[id] else { return nil }
        return ClientView(
            id: id, kind: record.kind, owner: record.owner, publications: record.publications,
            subscriptions: record.subscriptions)
    }

    /// The clients that publish into `service`, each with the instances it publishes there.
    public func publishers(of service: ServiceKey) -> [(client: ClientID, instances: [Instance])] {
        guard let record = services[service] else { return [] }
        return record.publishers.sorted().map { id in (id, clients[id]?.publications[service] ?? []) }
    }
}
