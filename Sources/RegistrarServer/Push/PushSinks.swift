import RegistrarCore

/// A subscriber that takes pushes over its own stream: an SDK connection.
protocol PushSink: AnyObject, Sendable {
    /// Offers the service's current data; only the newest content per service is kept.
    /// Callable from any thread.
    func offerPush(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo)
}

/// Finds the push sink of a subscribing client, if it has one (v1 clients do not).
protocol PushSinkDirectory: Sendable {
    func pushSink(for client: ClientID) -> (any PushSink)?
}

/// Datagram push to v1 subscribers at their `clientIP:udpPort`.
protocol DatagramPush: Sendable {
    func push(to client: ClientID, service: ServiceKey, serviceInfo: [UInt8])
}
