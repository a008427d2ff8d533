import Foundation

/// Where `serve` gets its settings, highest precedence first: flags, environment variables
/// (`REGISTRAR_PORT`, …), a `key = value` file (`--config`, or `REGISTRAR_CONFIG`), defaults.
public struct ServeSettings: Sendable {
    /// The keys a config file may hold; the environment variable is `REGISTRAR_` + the key in
    /// upper case with `-` as `_`.
    public static let keys = ["host", "port", "grpc-port", "data-dir", "log-level", "health-check-interval"]

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
                throw SettingsError("\(path):\(index + 1): unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
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
            guard port <= 65535 - 1001 else { throw SettingsError("port \(port) is too high: the gRPC port is port+1000 and the cluster port port+1001") }
            configuration.port = port
        }
        if let grpcPort = try port("grpc-port") { configuration.grpcPortOverride = grpcPort }
        if let dataDirectory = string("data-dir") { configuration.dataDirectory = dataDirectory }
        if let text = string("health-check-interval") {
            guard let seconds = Double(text), seconds >= 0.1, seconds <= 3600 else {
                throw SettingsError("health-check-interval must be a number of seconds from 0.1 to 3600, got '\(text)'")
            }
            configuration.healthCheckInterval = .milliseconds(Int64(seconds * 1000))
        }
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
