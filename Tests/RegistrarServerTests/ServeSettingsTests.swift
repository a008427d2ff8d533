import Foundation
import RegistrarCore
import RegistrarServer
import RegistrarTesting
import Testing

/// A config file holding `text`, in the temporary directory.
func settingsFile(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-\(UUID().uuidString).conf")
        .path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Settings as `serve` gets them: `--key value` flags, the environment and a config file.
func serveSettings(
    flags: [String: String] = [:], environment: [String: String] = [:], file text: String? = nil
) async throws -> ServeSettings {
    var arguments = flags.sorted { $0.key < $1.key }.flatMap { ["--" + $0.key, $0.value] }
    if let text { arguments += ["--config", try settingsFile(text)] }
    return try await ServeSettings(arguments: arguments, environment: environment)
}

func configured(
    flags: [String: String] = [:], environment: [String: String] = [:], file text: String? = nil
) async throws -> ServerConfiguration {
    var configuration = ServerConfiguration()
    try await serveSettings(flags: flags, environment: environment, file: text).apply(to: &configuration)
    return configuration
}

/// Expects the settings to be refused with a message that names `key`.
func expectRefused(
    _ key: String, flags: [String: String] = [:], environment: [String: String] = [:], file: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        let settings = try await serveSettings(flags: flags, environment: environment, file: file)
        var configuration = ServerConfiguration()
        try settings.apply(to: &configuration)
        _ = try settings.logLevel()
        Issue.record(
            "accepted: flags \(flags), environment \(environment), file \(file ?? "-")",
            sourceLocation: sourceLocation)
    } catch let error as SettingsError {
        #expect(error.description.contains(key), "\(error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a SettingsError: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("serve settings: flags over environment over file over defaults")
struct ServeSettingsTests {
    @Test func defaultsNeedNoConfiguration() async throws {
        let configuration = try await configured()
        #expect(configuration.port == 8848 && configuration.grpcPort == 9848 && configuration.clusterPort == 9849)
        #expect(configuration.dataDirectory == "./data")
        #expect(try await serveSettings().logLevel() == .info)
    }

    @Test func precedenceIsFlagThenEnvironmentThenFile() async throws {
        let configuration = try await configured(
            flags: ["port": "6000"], environment: ["REGISTRAR_DATA_DIR": "/from/env", "REGISTRAR_PORT": "6500"],
            file: "# comment\nport = 7000\ndata-dir = /from/file\nhost=10.0.0.1\n")
        #expect(configuration.port == 6000 && configuration.grpcPort == 7000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.host == "10.0.0.1")
    }

    @Test func theConfigFileCanBeNamedInTheEnvironmentAndFlagsTakeTheEqualsForm() async throws {
        let path = try settingsFile("port = 7100\n")
        var configuration = ServerConfiguration()
        try await ServeSettings(arguments: ["--host=127.0.0.2"], environment: ["REGISTRAR_CONFIG": path])
            .apply(to: &configuration)
        #expect(configuration.port == 7100 && configuration.host == "127.0.0.2")
    }

    @Test func theConsoleAndMetricsSettingsComeFromEachSourceInOrder() async throws {
        let defaults = try await configured()
        #expect(defaults.consolePort == nil && defaults.metricsEnabled && defaults.consoleAssetsDirectory == nil)
        let fromFile = try await configured(file: "console-port = 8080\nmetrics = off\nconsole-assets = /srv/console\n")
        #expect(fromFile.consolePort == 8080 && !fromFile.metricsEnabled)
        #expect(fromFile.consoleAssetsDirectory == "/srv/console")
        let fromEnvironment = try await configured(
            environment: ["REGISTRAR_CONSOLE_PORT": "8081", "REGISTRAR_METRICS": "on"],
            file: "console-port = 8080\nmetrics = off\n")
        #expect(fromEnvironment.consolePort == 8081 && fromEnvironment.metricsEnabled)
        let fromFlag = try await configured(
            flags: ["console-port": "8082", "metrics": "off"], environment: ["REGISTRAR_CONSOLE_PORT": "8081"],
            file: "console-port = 8080\n")
        #expect(fromFlag.consolePort == 8082 && !fromFlag.metricsEnabled)
    }

    @Test func authAndLimitSettingsParseAndTheAdminPasswordComesOnlyFromEnvironmentOrFile() async throws {
        let defaults = ServerConfiguration()
        #expect(defaults.auth.mode == .auto && defaults.auth.tokenSecret == nil)
        #expect(defaults.httpHeaderTimeout == .seconds(10) && defaults.httpIdleTimeout == .seconds(60))
        #expect(defaults.handshakeTimeout == .seconds(10) && defaults.maximumConnectionsPerIP == 2000)
        let secret = Data(repeating: 1, count: 32).base64EncodedString()
        let passwordFile = try settingsFile("from-the-file\n")
        let configuration = try await configured(
            flags: [
                "auth": "on", "token-ttl": "600", "token-secret": secret, "max-connections-per-ip": "50",
                "http-header-timeout": "2.5", "admin-password-file": passwordFile,
            ],
            environment: ["REGISTRAR_ADMIN_PASSWORD": "from-the-environment"])
        #expect(configuration.auth.mode == .on && configuration.auth.tokenTTL == 600)
        #expect(configuration.auth.tokenSecret == Array(repeating: 1, count: 32))
        #expect(configuration.auth.initialAdminPassword == "from-the-file")
        #expect(configuration.maximumConnectionsPerIP == 50 && configuration.httpHeaderTimeout == .milliseconds(2500))
        let fromEnvironment = try await configured(environment: ["REGISTRAR_ADMIN_PASSWORD": "pw-123456"])
        #expect(fromEnvironment.auth.initialAdminPassword == "pw-123456")
        // The password is no flag: naming it on the command line is refused, not read.
        await expectRefused("admin-password", flags: ["admin-password": "pw-123456"])
        await expectRefused("token-secret", flags: ["token-secret": "%%"])
    }

    @Test func theRequestRateCapIsASettingAndItsBurstFollowsTheRate() async throws {
        let rate = try await configured(environment: ["REGISTRAR_MAX_REQUESTS_PER_SECOND": "50"])
        #expect(rate.requestsPerSecondPerConnection == 50 && rate.requestBurstPerConnection == 100)
        let burst = try await configured(
            flags: ["request-burst": "7"], environment: ["REGISTRAR_MAX_REQUESTS_PER_SECOND": "50"])
        #expect(burst.requestsPerSecondPerConnection == 50 && burst.requestBurstPerConnection == 7)
        await expectRefused("max-requests-per-second", flags: ["max-requests-per-second": "fast"])
    }

    @Test func badSettingsAreClearErrors() async throws {
        await expectRefused("65000", flags: ["port": "65000"])
        await expectRefused("colour", file: "colour = blue\n")
        await expectRefused("line 2", file: "port = 1\njust words\n")
        await expectRefused("/no/such/file", environment: ["REGISTRAR_CONFIG": "/no/such/file"])
    }

    @Test func theCommandLineRefusesWhatItCannotRead() async throws {
        for (arguments, named) in [
            (["--colour", "blue"], "--colour"), (["--port"], "--port"), (["--port", "1", "2"], "'2'"),
            (["stray"], "stray"), (["--host", "--port", "1"], "--host"), (["--data-dir", "a,b"], "--data-dir"),
            (["--config"], "--config"),
        ] {
            do {
                _ = try await ServeSettings(arguments: arguments, environment: [:])
                Issue.record("accepted \(arguments)")
            } catch let error as SettingsError {
                #expect(error.description.contains(named), "\(arguments): \(error.description)")
            }
        }
    }

    @Test func clusterMembersComeFromTheListAndClusterConf() async throws {
        let conf = try settingsFile("# the cluster\n10.0.0.1:8848\n10.0.0.2:8848  # rack b\n\n10.0.0.3\n")
        let configuration = try await configured(flags: [
            "cluster-conf": conf, "members": "10.0.0.1:8848,10.0.0.4:8848", "cluster-secret": "s",
            "replica-lease": "7",
        ])
        #expect(
            configuration.cluster.members.map(\.description) == [
                "10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848", "10.0.0.4:8848",
            ])
        #expect(configuration.cluster.secret == "s" && configuration.cluster.replicaLease == .seconds(7))
        #expect(configuration.cluster.isEnabled)
        let fromEnvironment = try await configured(environment: [
            "REGISTRAR_MEMBERS": "10.0.0.1:8848,10.0.0.2:8848", "REGISTRAR_CLUSTER_SECRET": "s",
        ])
        #expect(fromEnvironment.cluster.members.count == 2)
    }

    @Test func clusterModeRefusesToGuess() async throws {
        // No secret; an advertised address outside the list; a member that is not an address.
        await expectRefused("secret", flags: ["members": "10.0.0.1:8848,10.0.0.2:8848"])
        await expectRefused(
            "advertise", flags: ["members": "10.0.0.1:8848", "cluster-secret": "s", "advertise": "10.0.0.9:8848"])
        await expectRefused("notaport", flags: ["members": "10.0.0.1:8848,10.0.0.2:notaport", "cluster-secret": "s"])
        await expectRefused("65000", flags: ["members": "10.0.0.1:65000", "cluster-secret": "s"])
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
