import Foundation
import NIOCore
import NIOSSL
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import Testing

/// The Swift client over TLS against a server with certificates that openssl makes here.
@Suite("TLS with certificates made by openssl", .stopsWhatItStarts)
struct TLSTests {
    struct Certificates {
        var ca: String
        var cert: String
        var key: String
    }

    /// A throwaway CA and a server certificate for 127.0.0.1, in a fresh directory.
    static func makeCertificates() throws -> Certificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-tls-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        for arguments in [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca",
            "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=test-server",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext",
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments.split(separator: " ").map(String.init)
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TLSSetupFailed(command: arguments) }
        }
        return Certificates(ca: directory + "/ca.pem", cert: directory + "/server.pem", key: directory + "/server.key")
    }

    struct TLSSetupFailed: Error {
        var command: String
    }

    private func clientContext(trusting ca: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(ca)
        configuration.applicationProtocols = ["h2"]
        return try NIOSSLContext(configuration: configuration)
    }

    @Test func theSwiftClientWorksOverTLSAndPlaintextOrAStrangerCAIsRefused() async throws {
        let certificates = try Self.makeCertificates()
        let server = try await TestServer.start {
            $0.tls = TLSSettings(certificateChainPath: certificates.cert, privateKeyPath: certificates.key)
        }
        let secure = try await NacosConnection.connect(
            host: "127.0.0.1", port: server.port, group: TestServer.group,
            tls: try clientContext(trusting: certificates.ca))
        #expect(try await secure.register("sealed", ip: "10.5.5.5", port: 1).resultCode == 200)
        #expect(try await secure.query("sealed").serviceInfo?.hosts?.count == 1)
        await secure.close()

        await #expect(throws: (any Error).self) {
            let plain = try await NacosConnection.connect(
                host: "127.0.0.1", port: server.port, group: TestServer.group, timeout: .seconds(2))
            await plain.close()
        }
        let stranger = try Self.makeCertificates()
        await #expect(throws: (any Error).self) {
            let misled = try await NacosConnection.connect(
                host: "127.0.0.1", port: server.port, group: TestServer.group, timeout: .seconds(2),
                tls: try clientContext(trusting: stranger.ca))
            await misled.close()
        }
    }
}
