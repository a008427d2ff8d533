import Foundation
import RegistrarCore
import RegistrarServer
import RegistrarTesting
import Testing

@Suite("serve settings: flags over environment over file over defaults")
struct ServeSettingsTests {
    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-\(UUID().uuidString).conf")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsNeedNoConfiguration() throws {
        var configuration = ServerConfiguration()
        try ServeSettings(flags: [:], environment: [:], configFile: nil).apply(to: &configuration)
        #expect(configuration.port == 8848 && configuration.grpcPort == 9848 && configuration.clusterPort == 9849)
        #expect(configuration.dataDirectory == "./data")
    }

    @Test func precedenceIsFlagThenEnvironmentThenFile() throws {
        let path = try file("# comment\nport = 7000\ndata-dir = /from/file\nhost=10.0.0.1\n")
        var configuration = ServerConfiguration()
        try ServeSettings(
            flags: ["port": "6000"], environment: ["REGISTRAR_DATA_DIR": "/from/env", "REGISTRAR_PORT": "6500"],
            configFile: path
        )
        .apply(to: &configuration)
        #expect(configuration.port == 6000 && configuration.grpcPort == 7000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.host == "10.0.0.1")
    }

    @Test func theConsoleAndMetricsSettingsComeFromEachSourceInOrder() throws {
        func configured(
            flags: [String: String?] = [:], environment: [String: String] = [:], file text: String? = nil
        ) throws -> ServerConfiguration {
            var configuration = ServerConfiguration()
            try ServeSettings(flags: flags, environment: environment, configFile: text.map(file))
                .apply(to: &configuration)
            return configuration
        }
        let defaults = try configured()
        #expect(defaults.consolePort == nil && defaults.metricsEnabled && defaults.consoleAssetsDirectory == nil)
        let fromFile = try configured(file: "console-port = 8080\nmetrics = off\nconsole-assets = /srv/console\n")
        #expect(fromFile.consolePort == 8080 && !fromFile.metricsEnabled)
        #expect(fromFile.consoleAssetsDirectory == "/srv/console")
        let fromEnvironment = try configured(
            environment: ["REGISTRAR_CONSOLE_PORT": "8081", "REGISTRAR_METRICS": "on"],
            file: "console-port = 8080\nmetrics = off\n")
        #expect(fromEnvironment.consolePort == 8081 && fromEnvironment.metricsEnabled)
        let fromFlag = try configured(
            flags: ["console-port": "8082", "metrics": "off"], environment: ["REGISTRAR_CONSOLE_PORT": "8081"],
            file: "console-port = 8080\n")
        #expect(fromFlag.consolePort == 8082 && !fromFlag.metricsEnabled)
        for (key, value) in [("metrics", "maybe"), ("console-port", "99999")] {
            do {
                _ = try configured(flags: [key: value])
                Issue.record("\(key)=\(value) was accepted")
            } catch let error as SettingsError {
                #expect(error.description.contains(key), "\(error.description)")
            }
        }
    }

    @Test func authAndLimitSettingsParseAndTheAdminPasswordComesOnlyFromEnvironmentOrFile() throws {
        var configuration = ServerConfiguration()
        #expect(configuration.auth.mode == .auto && configuration.auth.tokenSecret == nil)
        #expect(configuration.httpHeaderTimeout == .seconds(10) && configuration.httpIdleTimeout == .seconds(60))
        #expect(configuration.handshakeTimeout == .seconds(10) && configuration.maximumConnectionsPerIP == 2000)
        let secret = Data(repeating: 1, count: 32).base64EncodedString()
        let passwordFile = try file("from-the-file\n")
        try ServeSettings(
            flags: [
                "auth": "on", "token-ttl": "600", "token-secret": secret, "max-connections-per-ip": "50",
                "http-header-timeout": "2.5", "admin-password-file": passwordFile,
            ],
            environment: ["REGISTRAR_ADMIN_PASSWORD": "from-the-environment"], configFile: nil
        ).apply(to: &configuration)
        #expect(configuration.auth.mode == .on && configuration.auth.tokenTTL == 600)
        #expect(configuration.auth.tokenSecret == Array(repeating: 1, count: 32))
        #expect(configuration.auth.initialAdminPassword == "from-the-file")
        #expect(configuration.maximumConnectionsPerIP == 50 && configuration.httpHeaderTimeout == .milliseconds(2500))
        var fromEnvironment = ServerConfiguration()
        try ServeSettings(flags: [:], environment: ["REGISTRAR_ADMIN_PASSWORD": "pw-123456"], configFile: nil)
            .apply(to: &fromEnvironment)
        #expect(fromEnvironment.auth.initialAdminPassword == "pw-123456")
        for (key, value) in [
            ("auth", "maybe"), ("token-secret", "c2hvcnQ="), ("token-secret", "%%"), ("token-ttl", "1"),
            ("tls-cert", "/etc/server.pem"), ("tls-client-ca", "/etc/ca.pem"), ("max-connections-per-ip", "0"),
        ] {
            var configuration = ServerConfiguration()
            #expect(throws: SettingsError.self, "\(key)=\(value)") {
                try ServeSettings(flags: [key: value], environment: [:], configFile: nil).apply(to: &configuration)
            }
        }
    }

    @Test func theRequestRateCapIsASettingAndItsBurstFollowsTheRate() throws {
        var configuration = ServerConfiguration()
        try ServeSettings(flags: [:], environment: ["REGISTRAR_MAX_REQUESTS_PER_SECOND": "50"], configFile: nil)
            .apply(to: &configuration)
        #expect(configuration.requestsPerSecondPerConnection == 50 && configuration.requestBurstPerConnection == 100)
        try ServeSettings(flags: ["request-burst": "7"], environment: [:], configFile: nil).apply(to: &configuration)
        #expect(configuration.requestsPerSecondPerConnection == 50 && configuration.requestBurstPerConnection == 7)
        for (key, value) in [
            ("max-requests-per-second", "-1"), ("max-requests-per-second", "fast"), ("request-burst", "0"),
        ] {
            #expect(throws: SettingsError.self, "\(key)=\(value)") {
                try ServeSettings(flags: [key: value], environment: [:], configFile: nil).apply(to: &configuration)
            }
        }
    }

    @Test func badSettingsAreClearErrors() throws {
        var configuration = ServerConfiguration()
        #expect(throws: SettingsError.self) {
            try ServeSettings(flags: ["port": "eighty"], environment: [:], configFile: nil).apply(to: &configuration)
        }
        #expect(throws: SettingsError.self) {
            try ServeSettings(flags: ["port": "65000"], environment: [:], configFile: nil).apply(to: &configuration)
        }
        let unknownKey = try file("colour = blue\n")
        #expect(throws: SettingsError.self) { try ServeSettings(flags: [:], environment: [:], configFile: unknownKey) }
        #expect(throws: SettingsError.self) {
            try ServeSettings(flags: [:], environment: [:], configFile: "/no/such/file")
        }
    }

    @Test func clusterMembersComeFromTheListAndClusterConf() throws {
        let conf = try file("# the cluster\n10.0.0.1:8848\n10.0.0.2:8848  # rack b\n\n10.0.0.3\n")
        var configuration = ServerConfiguration()
        try ServeSettings(
            flags: [
                "cluster-conf": conf, "members": "10.0.0.1:8848,10.0.0.4:8848", "cluster-secret": "s",
                "replica-lease": "7",
            ],
            environment: [:], configFile: nil
        ).apply(to: &configuration)
        #expect(
            configuration.cluster.members.map(\.description) == [
                "10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848", "10.0.0.4:8848",
            ])
        #expect(configuration.cluster.secret == "s" && configuration.cluster.replicaLease == .seconds(7))
        #expect(configuration.cluster.isEnabled)
    }

    @Test func clusterModeRefusesToGuess() throws {
        func apply(_ flags: [String: String?]) throws {
            var configuration = ServerConfiguration()
            try ServeSettings(flags: flags, environment: [:], configFile: nil).apply(to: &configuration)
        }
        // No secret; an advertised address outside the list; a member that is not an address.
        for flags: [String: String?] in [
            ["members": "10.0.0.1:8848,10.0.0.2:8848"],
            ["members": "10.0.0.1:8848", "cluster-secret": "s", "advertise": "10.0.0.9:8848"],
            ["members": "10.0.0.1:8848,10.0.0.2:notaport", "cluster-secret": "s"],
            ["members": "10.0.0.1:65000", "cluster-secret": "s"],
        ] {
            #expect(throws: SettingsError.self, "\(flags)") { try apply(flags) }
        }
        var configuration = ServerConfiguration()
        configuration.port = 8848
        configuration.cluster.members = [MemberAddress(host: "203.0.113.7", port: 8848)]
        #expect(throws: StartupError.self) { try configuration.cluster.resolveSelf(port: configuration.port) }
    }
}

@Suite("TLS settings at start", .stopsWhatItStarts)
struct TLSStartTests {
    @Test func aMissingCertificateStopsTheStartAndNamesTheFile() async throws {
        let missing = "/nonexistent/registrar-\(UUID().uuidString).pem"
        do {
            _ = try await TestServer.start {
                $0.tls = TLSSettings(certificateChainPath: missing, privateKeyPath: missing)
            }
            Issue.record("a server started with a missing certificate")
        } catch let error as StartupError {
            #expect(error.description.contains(missing), "\(error)")
        }
    }
}
