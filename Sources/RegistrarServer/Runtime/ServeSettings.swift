import Foundation
import NIOCore
import RegistrarCore

/// Where `serve` gets its settings, highest precedence first: flags, environment variables
/// (`REGISTRAR_PORT`, …), a `key = value` file (`--config`, or `REGISTRAR_CONFIG`), defaults.
public struct ServeSettings: Sendable {
    /// The keys a config file may hold; the environment variable is `REGISTRAR_` + the key in
    /// upper case with `-` as `_`.
    public static let keys = [
        "host", "port", "grpc-port", "data-dir", "database", "log-level", "health-check-interval",
        "members", "cluster-conf", "cluster-secret", "advertise", "replica-lease", "verify-interval",
        "auth", "token-ttl", "token-secret", "admin-password-file",
        "max-connections-per-ip", "max-requests-per-second", "request-burst", "http-header-timeout",
        "http-idle-timeout", "handshake-timeout",
        "tls-cert", "tls-key", "tls-client-ca", "tls-mode", "peer-tls-cert", "peer-tls-key", "peer-tls-ca",
        "console-port", "console-assets", "metrics",
    ]

    /// The admin's first password comes only from the environment or a file, never a flag,
    /// which any user of the machine could read in the process list.
    public static let adminPasswordVariable = "REGISTRAR_ADMIN_PASSWORD"

    private var adminPassword: String?

    private var values: [String: String] = [:]

    public init(flags: [String: String?], environment: [String: String], configFile: String?) throws {
        if let path = configFile ?? environment["REGISTRAR_CONFIG"] {
            values = try ServeSettings.parseFile(path)
        }
        for key in ServeSettings.keys {
            if let value = environment["REGISTRAR_" + key.uppercased().replacingOccurrences(of: "-", with: "_")] {
                values[key] = value
            }
        }
        for (key, value) in flags {
            if let value { values[key] = value }
        }
        adminPassword = environment[Self.adminPasswordVariable]
    }

    static func parseFile(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError("cannot read config file '\(path)': \(error.localizedDescription)")
        }
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw SettingsError("\(path):\(index + 1): expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard keys.contains(key) else {
                throw SettingsError(
                    "\(path):\(index + 1): unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
            }
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    public func string(_ key: String) -> String? { values[key] }

    public func port(_ key: String) throws -> Int? {
        guard let text = values[key] else { return nil }
        guard let port = Int(text), (0...65535).contains(port) else {
            throw SettingsError("\(key) must be a port number from 0 to 65535, got '\(text)'")
        }
        return port
    }

    public func apply(to configuration: inout ServerConfiguration) throws {
        if let host = string("host") { configuration.host = host }
        if let port = try port("port") {
            guard port <= 65535 - 1001 else {
                throw SettingsError(
                    "port \(port) is too high: the gRPC port is port+1000 and the cluster port port+1001")
            }
            configuration.port = port
        }
        if let grpcPort = try port("grpc-port") { configuration.grpcPortOverride = grpcPort }
        if let dataDirectory = string("data-dir") { configuration.dataDirectory = dataDirectory }
        if let database = string("database"), !database.isEmpty { configuration.database = database }
        if let text = string("health-check-interval") {
            configuration.healthCheckInterval = try seconds("health-check-interval", text, range: 0.1...3600)
        }
        if let consolePort = try port("console-port") { configuration.consolePort = consolePort }
        if let directory = string("console-assets"), !directory.isEmpty {
            configuration.consoleAssetsDirectory = directory
        }
        if let text = string("metrics") {
            guard text == "on" || text == "off" else { throw SettingsError("metrics must be on or off, got '\(text)'") }
            configuration.metricsEnabled = text == "on"
        }
        try applyCluster(to: &configuration.cluster)
        try applyAuth(to: &configuration.auth)
        try applyLimits(to: &configuration)
        try applyTLS(to: &configuration)
    }

    private func applyTLS(to configuration: inout ServerConfiguration) throws {
        switch (string("tls-cert"), string("tls-key")) {
        case (nil, nil):
            guard string("tls-client-ca") == nil, string("tls-mode") == nil else {
                throw SettingsError(
                    "tls-client-ca and tls-mode need tls-cert and tls-key (the server's own certificate)")
            }
        case let (cert?, key?):
            let mode = string("tls-mode") ?? "required"
            guard mode == "required" || mode == "optional" else {
                throw SettingsError("tls-mode must be required or optional, got '\(mode)'")
            }
            configuration.tls = TLSSettings(
                certificateChainPath: cert, privateKeyPath: key, clientCAPath: string("tls-client-ca"),
                acceptsPlaintext: mode == "optional")
        default:
            throw SettingsError("TLS needs both tls-cert and tls-key (PEM files)")
        }
        let peer = [string("peer-tls-cert"), string("peer-tls-key"), string("peer-tls-ca")]
        if peer.contains(where: { $0 != nil }) {
            guard let cert = peer[0], let key = peer[1], let ca = peer[2] else {
                throw SettingsError("peer TLS needs peer-tls-cert, peer-tls-key and peer-tls-ca together (PEM files)")
            }
            configuration.cluster.peerTLS = PeerTLSSettings(certificateChainPath: cert, privateKeyPath: key, caPath: ca)
        }
    }

    private func applyLimits(to configuration: inout ServerConfiguration) throws {
        if let text = string("max-connections-per-ip") {
            guard let limit = Int(text), (1...1_000_000).contains(limit) else {
                throw SettingsError("max-connections-per-ip must be a number from 1 to 1000000, got '\(text)'")
            }
            configuration.maximumConnectionsPerIP = limit
        }
        if let text = string("max-requests-per-second") {
            guard let rate = Int(text), (0...10_000_000).contains(rate) else {
                throw SettingsError(
                    "max-requests-per-second must be a number from 0 (no limit) to 10000000, got '\(text)'")
            }
            configuration.requestsPerSecondPerConnection = rate
            // The burst follows the rate unless set: twice a second's worth.
            configuration.requestBurstPerConnection = max(1, 2 * rate)
        }
        if let text = string("request-burst") {
            guard let burst = Int(text), (1...20_000_000).contains(burst) else {
                throw SettingsError("request-burst must be a number from 1 to 20000000, got '\(text)'")
            }
            configuration.requestBurstPerConnection = burst
        }
        if let text = string("http-header-timeout") {
            configuration.httpHeaderTimeout = try seconds("http-header-timeout", text, range: 0.1...600)
        }
        if let text = string("http-idle-timeout") {
            configuration.httpIdleTimeout = try seconds("http-idle-timeout", text, range: 1...3600)
        }
        if let text = string("handshake-timeout") {
            configuration.handshakeTimeout = try seconds("handshake-timeout", text, range: 0.1...600)
        }
    }

    private func applyAuth(to auth: inout AuthConfiguration) throws {
        if let text = string("auth") {
            guard let mode = AuthMode(rawValue: text) else {
                throw SettingsError("auth must be on, off or auto, got '\(text)'")
            }
            auth.mode = mode
        }
        if let text = string("token-ttl") {
            guard let ttl = Int64(text), (60...2_592_000).contains(ttl) else {
                throw SettingsError("token-ttl must be a number of seconds from 60 to 2592000, got '\(text)'")
            }
            auth.tokenTTL = ttl
        }
        if let text = string("token-secret") {
            do {
                auth.tokenSecret = try AuthConfiguration.parseSecret(text)
            } catch {
                throw SettingsError(error.description)
            }
        }
        if let path = string("admin-password-file") {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw SettingsError("cannot read admin-password-file '\(path)': \(error.localizedDescription)")
            }
            auth.initialAdminPassword = text.trimmingCharacters(in: .newlines)
        } else if let adminPassword {
            auth.initialAdminPassword = adminPassword
        }
    }

    private func applyCluster(to cluster: inout ClusterConfiguration) throws {
        var members: [MemberAddress] = []
        if let path = string("cluster-conf") {
            members += try ServeSettings.parseMembers(fileAt: path)
        }
        if let list = string("members") {
            members += try ServeSettings.parseMembers(list.split(separator: ",").map(String.init), source: "members")
        }
        var seen = Set<MemberAddress>()
        cluster.members = members.filter { seen.insert($0).inserted }
        if let text = string("advertise") {
            guard let address = MemberAddress(parsing: text) else {
                throw SettingsError("advertise must be host:port (this node's entry in the member list), got '\(text)'")
            }
            cluster.advertise = address
        }
        if let secret = string("cluster-secret"), !secret.isEmpty { cluster.secret = secret }
        if let text = string("replica-lease") {
            cluster.replicaLease = try seconds("replica-lease", text, range: 1...3600)
        }
        if let text = string("verify-interval") {
            cluster.verifyInterval = try seconds("verify-interval", text, range: 0.1...600)
        }
        guard cluster.isEnabled else { return }
        guard cluster.secret != nil else {
            throw SettingsError(
                "cluster mode needs a shared secret: set --cluster-secret (or REGISTRAR_CLUSTER_SECRET) to the same value on every member"
            )
        }
        if let advertise = cluster.advertise, !cluster.members.contains(advertise) {
            throw SettingsError(
                "advertise \(advertise) is not in the member list (\(cluster.members.map(\.description).joined(separator: ", ")))"
            )
        }
    }

    /// Members from a `cluster.conf`: one `host:port` per line; `#` starts a comment.
    static func parseMembers(fileAt path: String) throws -> [MemberAddress] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError("cannot read cluster-conf '\(path)': \(error.localizedDescription)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        }
        return try parseMembers(lines, source: path)
    }

    static func parseMembers(_ entries: [String], source: String) throws -> [MemberAddress] {
        try entries.compactMap { entry in
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { return nil }
            guard let address = MemberAddress(parsing: trimmed) else {
                throw SettingsError(
                    "\(source): '\(trimmed)' is not a member address (host:port, the member's main port)")
            }
            guard address.port <= 65535 - 1001 else {
                throw SettingsError(
                    "\(source): port \(address.port) of '\(trimmed)' is too high: the cluster port is port+1001")
            }
            return address
        }
    }

    private func seconds(_ key: String, _ text: String, range: ClosedRange<Double>) throws -> TimeAmount {
        guard let seconds = Double(text), range.contains(seconds) else {
            let bound = { (value: Double) in value == value.rounded() ? String(Int(value)) : String(value) }
            throw SettingsError(
                "\(key) must be a number of seconds from \(bound(range.lowerBound)) to \(bound(range.upperBound)), got '\(text)'"
            )
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
