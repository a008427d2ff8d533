import Foundation
import RegistrarServer
import Testing

/// Every `ServeKey`, from every source: a flag beats the environment, which beats the file; and a bad
/// value fails at start, from any source, with a message that names its key.
@Suite("serve settings: every key from every source")
struct ServeSettingsMatrixTests {
    /// A bad value of a key, with the companions the key needs to be checked at all (a TLS key is
    /// only read next to its certificate). Keys missing here take any value at this stage; the
    /// server checks them when it starts (an address to bind, a file to read, a database to reach).
    static let badValues: [ServeKey: (value: String, companions: [String: String])] = [
        .port: ("eighty", [:]), .grpcPort: ("70000", [:]), .logLevel: ("loud", [:]),
        .healthCheckInterval: ("0", [:]), .members: ("10.0.0.1:8848,nohost:x", ["cluster-secret": "s"]),
        .clusterConf: ("/no/such/cluster.conf", ["cluster-secret": "s"]), .advertise: ("10.0.0.1:port", [:]),
        .replicaLease: ("0", [:]), .verifyInterval: ("soon", [:]), .auth: ("maybe", [:]),
        .tokenTTL: ("1", [:]), .tokenSecret: ("c2hvcnQ=", [:]), .adminPasswordFile: ("/no/such/password", [:]),
        .maxConnectionsPerIP: ("0", [:]), .maxRequestsPerSecond: ("-1", [:]), .requestBurst: ("0", [:]),
        .httpHeaderTimeout: ("0", [:]), .httpIdleTimeout: ("0.5", [:]), .handshakeTimeout: ("601", [:]),
        .tlsCert: ("/etc/server.pem", [:]), .tlsKey: ("/etc/server.key", [:]),
        .tlsMode: ("sometimes", ["tls-cert": "/c.pem", "tls-key": "/k.pem"]), .tlsClientCA: ("/etc/ca.pem", [:]),
        .peerTLSCert: ("/p.pem", [:]), .peerTLSKey: ("/p.key", [:]), .peerTLSCA: ("/ca.pem", [:]),
        .consolePort: ("99999", [:]), .metrics: ("maybe", [:]),
    ]

    /// Keys a bad value cannot be given to here, and why; with `badValues`, every key is accounted for.
    static let checkedAtStart: Set<ServeKey> = [
        .host, .dataDir, .database, .clusterSecret, .consoleAssets,
    ]

    @Test func everyKeyIsAccountedFor() {
        for key in ServeKey.allCases {
            #expect((Self.badValues[key] != nil) != Self.checkedAtStart.contains(key), "\(key.rawValue)")
        }
    }

    private func value(_ source: String, _ key: ServeKey) -> String {
        key.isListForTests ? "\(source).example:1,\(source).example:2" : "\(source)-\(key.rawValue)"
    }

    @Test func eachKeyComesFromTheFlagThenTheEnvironmentThenTheFile() async throws {
        let keys = ServeKey.allCases
        let file = keys.map { "\($0.rawValue) = \(value("file", $0))" }.joined(separator: "\n")
        var environment: [String: String] = [:]
        var flags: [String: String] = [:]
        // Each key from a different mix of sources: file only, file and env, file, env and flag, env only, flag only.
        for (index, key) in keys.enumerated() where index % 5 != 0 {
            environment[key.environmentVariable] = value("env", key)
            if index % 5 == 2 || index % 5 == 4 { flags[key.rawValue] = value("flag", key) }
        }
        let settings = try await serveSettings(flags: flags, environment: environment, file: file)
        for (index, key) in keys.enumerated() {
            let expected = index % 5 == 0 ? "file" : (index % 5 == 2 || index % 5 == 4) ? "flag" : "env"
            #expect(settings.string(key) == value(expected, key), "\(key.rawValue)")
        }
        let withoutFile = try await serveSettings(flags: flags, environment: environment)
        for (index, key) in keys.enumerated() where index % 5 == 0 {
            #expect(withoutFile.string(key) == nil, "\(key.rawValue) has no source but the file")
        }
    }

    @Test(arguments: ["flag", "environment", "file"])
    func aBadValueFailsFromEachSourceAndNamesItsKey(source: String) async throws {
        for key in ServeKey.allCases {
            guard let bad = Self.badValues[key] else { continue }
            switch source {
            case "flag":
                await expectRefused(key.rawValue, flags: bad.companions.merging([key.rawValue: bad.value]) { $1 })
            case "environment":
                await expectRefused(
                    key.rawValue, flags: bad.companions, environment: [key.environmentVariable: bad.value])
            default: await expectRefused(key.rawValue, flags: bad.companions, file: "\(key.rawValue) = \(bad.value)\n")
            }
        }
    }
}

extension ServeKey {
    var isListForTests: Bool { self == .members }
}
