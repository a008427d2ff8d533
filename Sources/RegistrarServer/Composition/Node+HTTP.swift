import Foundation
import Logging
import NIOSSL
import RegistrarCore

extension Node {
    /// The HTTP front on the main port, with every route group, each given what it uses; and
    /// with `--console-port`, a second front there with the console and what its pages call.
    static func httpFronts(
        _ configuration: ServerConfiguration, _ tls: (NIOSSLContext, acceptsPlaintext: Bool)?,
        _ naming: NamingContext, _ access: AccessControl, _ push: PushScheduler, _ connections: ConnectionTable,
        _ cluster: ClusterNode?, _ readiness: Readiness, _ counters: NodeCounters, _ httpCounters: V1Front.Counters,
        _ requests: RequestMetrics, _ consoleEvents: ConsoleEvents, _ logger: Logger
    ) -> (main: V1Front, console: V1Front?) {
        let reader = V1ParameterReader(maximumBodySize: configuration.maximumHTTPBodySize)
        let members = MemberDirectory(
            readiness: readiness, cluster: cluster, advertisedIP: V1Front.advertisedIP(host: configuration.host),
            port: configuration.port)
        let metrics = NodeMetrics(store: naming.store, counters: counters, members: members)
        let instances = InstanceOperations(naming: naming)
        let services = ServiceOperations(naming: naming)
        let namespaces = NamespaceOperations(naming: naming, logger: logger)
        let forwarder = cluster.map { V1Forwarder(node: $0, membersSpeakHTTPS: configuration.tls != nil) }
        let connectionSummary: @Sendable (ClientID) async -> ConnectionSummary? = { id in
            await connections.connection(id)?.summary()
        }
        let operatorRoutes = OperatorRoutes(
            readiness: readiness, metrics: metrics, members: members, reader: reader,
            authEnabled: access.mode != .off)
        let registrarMetrics = counters.metrics
        // The console, its naming API (the v3 admin one, checked per service) and what its pages call.
        let consoleRoutes: [any V1RouteGroup] = [
            ConsoleRoutes(
                assets: ConsoleAssets(directory: configuration.consoleAssetsDirectory), events: consoleEvents,
                rates: ConsoleRateFeed(interval: consoleEvents.settings.interval) {
                    let reading = registrarMetrics.reading()
                    return ConsoleEvents.Reading(
                        requests: reading.value(MetricName.requests),
                        pushes: reading.value(MetricName.pushes, ["result": "sent"]), connections: connections.count,
                        members: members.all().map { ("\($0.ip):\($0.port)", $0.state) })
                },
                access: access, reader: reader),
            OpenAPINamingRoutes(
                version: .v3Console, instances: instances, services: services, reader: reader, forwarder: forwarder),
            V3AdminNamingRoutes(naming: naming, metrics: metrics, reader: reader),
            AuthRoutes(access: access, reader: reader),
            NamespaceRoutes(namespaces: namespaces, reader: reader),
            operatorRoutes,
        ]
        let routes: [any V1RouteGroup] =
            [
                InstanceRoutes(operations: instances, reader: reader, forwarder: forwarder, udpPush: push),
                ServiceRoutes(operations: services, reader: reader),
                OpenAPINamingRoutes(
                    version: .v2, instances: instances, services: services, reader: reader, forwarder: forwarder),
                OpenAPINamingRoutes(
                    version: .v3Admin, instances: instances, services: services, reader: reader, forwarder: forwarder),
                ClientInspectionRoutes(naming: naming, reader: reader, connection: connectionSummary),
                CoreRoutes(readiness: readiness, members: members, reader: reader),
                V3ClientRoutes(instances: instances, reader: reader, forwarder: forwarder),
                V3AdminNamespaceRoutes(namespaces: namespaces, reader: reader),
                ClusterRoutes(naming: naming, reader: reader),
                PrometheusRoutes(
                    metrics: registrarMetrics,
                    gauges: GaugeSampler(
                        metrics: registrarMetrics, store: naming.store, connections: connections, members: members)),
            ] + consoleRoutes
        func front(port: Int, _ routes: [any V1RouteGroup]) -> V1Front {
            let settings = V1Front.Settings(
                host: configuration.host, port: port, idleTimeout: configuration.httpIdleTimeout,
                headerTimeout: configuration.httpHeaderTimeout, tls: tls)
            return V1Front(
                settings: settings, readiness: readiness, access: AccessMiddleware(access: access, reader: reader),
                routes: routes, requests: requests, counters: httpCounters, logger: logger)
        }
        return (
            front(port: configuration.port, routes), configuration.consolePort.map { front(port: $0, consoleRoutes) }
        )
    }
}
