import Configuration
import Foundation
import Logging
import NIOCore
import RegistrarCore
import SystemPackage

/// Where `serve` gets its settings, through swift-configuration, highest precedence first: flags
/// (`--port 7000`), environment variables (`REGISTRAR_PORT`), a `key = value` file (`--config`, or
/// `REGISTRAR_CONFIG`), defaults. Every key is a `ServeKey`, declared once.
public struct ServeSettings: Sendable {
    /// The admin's first password comes only from the environment or a file, never a flag,
    /// which any user of the machine could read in the process list.
    public static let adminPasswordVariable = "REGISTRAR_ADMIN_PASSWORD"

    /// The flag that names the config file; it is not a key of the file itself.
    public static let configFlag = "config"

    private let reader: ConfigReader
    private let adminPassword: String?

    /// - Parameters:
    ///   - arguments: the command line after `serve`: `--key value` or `--key=value` pairs.
    ///   - environment: the process's environment.
    public init(arguments: [String], environment: [String: String]) async throws {
        try Self.checkArguments(arguments)
        let flags = CommandLineArgumentsProvider(
            arguments: ["serve"] + arguments, secretsSpecifier: .specific(Self.secretFlags))
        let variables = EnvironmentVariablesProvider(
            environmentVariables: environment, secretsSpecifier: .specific(Self.secretVariables)
        ).prefixKeys(with: "registrar")
        var providers: [any ConfigProvider] = [flags, variables]
        let firstTwo = ConfigReader(providers: providers)
        if let path = firstTwo.string(forKey: ConfigKey(Self.configFlag)) {
            providers.append(try await Self.fileProvider(path))
        }
        reader = ConfigReader(providers: providers)
        adminPassword = environment[Self.adminPasswordVariable]
    }

    private static let secretFlags = Set(ServeKey.allCases.filter(\.isSecret).map(\.flag))
    private static let secretVariables = Set(ServeKey.allCases.filter(\.isSecret).map(\.environmentVariable))
        .union([adminPasswordVariable])

    private static func fileProvider(_ path: String) async throws -> FileProvider<SettingsFileSnapshot> {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw SettingsError("cannot read config file '\(path)': no such readable file")
        }
        do {
            return try await FileProvider<SettingsFileSnapshot>(filePath: FilePath(path))
        } catch let error as SettingsError {
            throw SettingsError("\(path): \(error.description)")
        } catch {
            throw SettingsError("cannot read config file '\(path)': \(error)")
        }
    }

    /// swift-configuration takes any `--name`; this refuses unknown ones, a flag with no value and
    /// a stray word, so that a typo fails at start instead of passing as a setting nobody reads.
    static func checkArguments(_ arguments: [String]) throws {
        var pending: String?
        for argument in arguments {
            if argument.hasPrefix("--") {
                if let pending { throw SettingsError("\(pending) needs a value") }
                let name = String(argument.dropFirst(2).prefix { $0 != "=" })
                guard let key = ServeKey(rawValue: name) else {
                    guard name == configFlag else {
                        throw SettingsError("unknown option '--\(name)'; the options are \(ServeKey.optionList)")
                    }
                    pending = argument.contains("=") ? nil : argument
                    continue
                }
                let value = argument.contains("=") ? String(argument.drop { $0 != "=" }.dropFirst()) : nil
                if let value { try checkSingle(key, value) }
                pending = value == nil ? argument : nil
            } else if let flag = pending {
                if let key = ServeKey(rawValue: String(flag.dropFirst(2))) { try checkSingle(key, argument) }
                pending = nil
            } else {
                throw SettingsError("unexpected '\(argument)': settings are '--key value' pairs")
            }
        }
        if let pending { throw SettingsError("\(pending) needs a value") }
    }

    /// The flag parser splits values at commas; only a list key may hold them.
    private static func checkSingle(_ key: ServeKey, _ value: String) throws {
        guard key.isList || !value.contains(",") else {
            throw SettingsError("\(key.flag) takes one value, got '\(value)'")
        }
    }

    public func string(_ key: ServeKey) -> String? {
        if key.isList {
            return reader.stringArray(forKey: ConfigKey(key.rawValue), isSecret: key.isSecret)?
                .joined(separator: ",")
        }
        return reader.string(forKey: ConfigKey(key.rawValue), isSecret: key.isSecret)
    }

    public func port(_ key: ServeKey) throws -> Int? {
        guard let text = string(key) else { return nil }
        guard let port = Int(text), (0...65535).contains(port) else {
            throw SettingsError("\(key.rawValue) must be a port number from 0 to 65535, got '\(text)'")
        }
        return port
    }

    public func logLevel() throws -> Logger.Level {
        let name = string(.logLevel) ?? "info"
        guard let level = Logger.Level(rawValue: name) else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw SettingsError("log-level must be one of \(levels), got '\(name)'")
        }
        return level
    }

    public func apply(to configuration: inout ServerConfiguration) throws {
        if let host = string(.host) { configuration.host = host }
        if let port = try port(.port) {
            guard port <= 65535 - 1001 else {
                throw SettingsError(
                    "port \(port) is too high: the gRPC port is port+1000 and the cluster port port+1001")
            }
            configuration.port = port
        }
        if let grpcPort = try port(.grpcPort) { configuration.grpcPortOverride = grpcPort }
        if let dataDirectory = string(.dataDir) { configuration.dataDirectory = dataDirectory }
        if let database = string(.database), !database.isEmpty { configuration.database = database }
        if let text = string(.healthCheckInterval) {
            configuration.healthCheckInterval = try seconds(.healthCheckInterval, text, range: 0.1...3600)
        }
        if let consolePort = try port(.consolePort) { configuration.consolePort = consolePort }
        if let directory = string(.consoleAssets), !directory.isEmpty {
            configuration.consoleAssetsDirectory = directory
        }
        if let text = string(.metrics) {
            guard text == "on" || text == "off" else { throw SettingsError("metrics must be on or off, got '\(text)'") }
            configuration.metricsEnabled = text == "on"
        }
        try applyCluster(to: &configuration.cluster)
        try applyAuth(to: &configuration.auth)
        try applyLimits(to: &configuration)
        try applyTLS(to: &configuration)
    }

    private func applyTLS(to configuration: inout ServerConfiguration) throws {
        switch (string(.tlsCert), string(.tlsKey)) {
        case (nil, nil):
            guard string(.tlsClientCA) == nil, string(.tlsMode) == nil else {
                throw SettingsError(
                    "tls-client-ca and tls-mode need tls-cert and tls-key (the server's own certificate)")
            }
        case let (cert?, key?):
            let mode = string(.tlsMode) ?? "required"
            guard mode == "required" || mode == "optional" else {
                throw SettingsError("tls-mode must be required or optional, got '\(mode)'")
            }
            configuration.tls = TLSSettings(
                certificateChainPath: cert, privateKeyPath: key, clientCAPath: string(.tlsClientCA),
                acceptsPlaintext: mode == "optional")
        default:
            throw SettingsError("TLS needs both tls-cert and tls-key (PEM files)")
        }
        let peer = [string(.peerTLSCert), string(.peerTLSKey), string(.peerTLSCA)]
        if peer.contains(where: { $0 != nil }) {
            guard let cert = peer[0], let key = peer[1], let ca = peer[2] else {
                throw SettingsError("peer TLS needs peer-tls-cert, peer-tls-key and peer-tls-ca together (PEM files)")
            }
            configuration.cluster.peerTLS = PeerTLSSettings(certificateChainPath: cert, privateKeyPath: key, caPath: ca)
        }
    }

    private func applyLimits(to configuration: inout ServerConfiguration) throws {
        if let text = string(.maxConnectionsPerIP) {
            guard let limit = Int(text), (1...1_000_000).contains(limit) else {
                throw SettingsError("max-connections-per-ip must be a number from 1 to 1000000, got '\(text)'")
            }
            configuration.maximumConnectionsPerIP = limit
        }
        if let text = string(.maxRequestsPerSecond) {
            guard let rate = Int(text), (0...10_000_000).contains(rate) else {
                throw SettingsError(
                    "max-requests-per-second must be a number from 0 (no limit) to 10000000, got '\(text)'")
            }
            configuration.requestsPerSecondPerConnection = rate
            // The burst follows the rate unless set: twice a second's worth.
            configuration.requestBurstPerConnection = max(1, 2 * rate)
        }
        if let text = string(.requestBurst) {
            guard let burst = Int(text), (1...20_000_000).contains(burst) else {
                throw SettingsError("request-burst must be a number from 1 to 20000000, got '\(text)'")
            }
            configuration.requestBurstPerConnection = burst
        }
        if let text = string(.httpHeaderTimeout) {
            configuration.httpHeaderTimeout = try seconds(.httpHeaderTimeout, text, range: 0.1...600)
        }
        if let text = string(.httpIdleTimeout) {
            configuration.httpIdleTimeout = try seconds(.httpIdleTimeout, text, range: 1...3600)
        }
        if let text = string(.handshakeTimeout) {
            configuration.handshakeTimeout = try seconds(.handshakeTimeout, text, range: 0.1...600)
        }
    }

    private func applyAuth(to auth: inout AuthConfiguration) throws {
        if let text = string(.auth) {
            guard let mode = AuthMode(rawValue: text) else {
                throw SettingsError("auth must be on, off or auto, got '\(text)'")
            }
            auth.mode = mode
        }
        if let text = string(.tokenTTL) {
            guard let ttl = Int64(text), (60...2_592_000).contains(ttl) else {
                throw SettingsError("token-ttl must be a number of seconds from 60 to 2592000, got '\(text)'")
            }
            auth.tokenTTL = ttl
        }
        if let text = string(.tokenSecret) {
            do {
                auth.tokenSecret = try AuthConfiguration.parseSecret(text)
            } catch {
                throw SettingsError(error.description)
            }
        }
        if let path = string(.adminPasswordFile) {
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
        if let path = string(.clusterConf) {
            members += try ServeSettings.parseMembers(fileAt: path)
        }
        if let list = string(.members) {
            members += try ServeSettings.parseMembers(list.split(separator: ",").map(String.init), source: "members")
        }
        var seen = Set<MemberAddress>()
        cluster.members = members.filter { seen.insert($0).inserted }
        if let text = string(.advertise) {
            guard let address = MemberAddress(parsing: text) else {
                throw SettingsError("advertise must be host:port (this node's entry in the member list), got '\(text)'")
            }
            cluster.advertise = address
        }
        if let secret = string(.clusterSecret), !secret.isEmpty { cluster.secret = secret }
        if let text = string(.replicaLease) {
            cluster.replicaLease = try seconds(.replicaLease, text, range: 1...3600)
        }
        if let text = string(.verifyInterval) {
            cluster.verifyInterval = try seconds(.verifyInterval, text, range: 0.1...600)
        }
        guard cluster.isEnabled else { return }
        guard cluster.secret != nil else {
            throw SettingsError(
                "cluster mode needs a shared secret: set --cluster-secret (or REGISTRAR_CLUSTER_SECRET) "
                    + "to the same value on every member")
        }
        if let advertise = cluster.advertise, !cluster.members.contains(advertise) {
            let list = cluster.members.map(\.description).joined(separator: ", ")
            throw SettingsError("advertise \(advertise) is not in the member list (\(list))")
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

    private func seconds(_ key: ServeKey, _ text: String, range: ClosedRange<Double>) throws -> TimeAmount {
        guard let seconds = Double(text), range.contains(seconds) else {
            let bound = { (value: Double) in value == value.rounded() ? String(Int(value)) : String(value) }
            let bounds = "from \(bound(range.lowerBound)) to \(bound(range.upperBound))"
            throw SettingsError("\(key.rawValue) must be a number of seconds \(bounds), got '\(text)'")
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
