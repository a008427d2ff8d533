import Foundation
import RegistrarServer
import Testing

@Suite("serve settings: flags over environment over file over defaults")
struct ServeSettingsTests {
    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-\(UUID().uuidString).conf").path
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
        try ServeSettings(flags: ["port": "6000"], environment: ["REGISTRAR_DATA_DIR": "/from/env", "REGISTRAR_PORT": "6500"], configFile: path)
            .apply(to: &configuration)
        #expect(configuration.port == 6000 && configuration.grpcPort == 7000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.host == "10.0.0.1")
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
        #expect(throws: SettingsError.self) { try ServeSettings(flags: [:], environment: [:], configFile: "/no/such/file") }
    }
}
