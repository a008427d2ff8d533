import Foundation
import HTTPTypes
import Hummingbird

/// The console's files (`Console/Assets`: index.html; console-api.js, console-edit.js and
/// console.js, classic scripts run in that order; console.css), compiled into the binary with
/// SwiftPM's `embedInCode`, so that a copied binary still has its console.
/// `directory` (`REGISTRAR_CONSOLE_ASSETS`), when set, serves them from disk instead, read on
/// every request: for working on the console without a rebuild.
///
/// Threading: thread-safe (immutable).
struct ConsoleAssets: Sendable {
    struct File: Sendable {
        let name: String
        let contentType: String
        let embedded: [UInt8]
    }

    /// Every path served, by the file it serves. `/nacos` itself redirects to `/nacos/`, where
    /// the page's relative links resolve.
    static let files: [String: File] = {
        let index = File(
            name: "index.html", contentType: "text/html; charset=utf-8", embedded: PackageResources.index_html)
        let script = "text/javascript; charset=utf-8"
        let others = [
            File(name: "console-api.js", contentType: script, embedded: PackageResources.console_api_js),
            File(name: "console-edit.js", contentType: script, embedded: PackageResources.console_edit_js),
            File(name: "console.js", contentType: script, embedded: PackageResources.console_js),
            File(name: "console.css", contentType: "text/css; charset=utf-8", embedded: PackageResources.console_css),
        ]
        var files = ["/nacos/": index, "/nacos/index.html": index]
        for file in others { files["/nacos/" + file.name] = file }
        return files
    }()

    /// What `AccessMiddleware` lets through without a token (it drops a trailing slash). Made
    /// from `files`: the page loads every one of them before it has logged in.
    static let paths: Set<String> = Set(files.keys.filter { $0 != "/nacos/" }).union(["/", "/nacos"])

    let directory: String?

    /// The file at `path`, or nil when it is not one of the console's.
    func response(for path: String) -> Response? {
        guard let file = Self.files[path] else { return nil }
        var bytes = file.embedded
        if let directory {
            guard let data = FileManager.default.contents(atPath: directory + "/" + file.name) else {
                return V1Response.text(
                    "console file \(file.name) not found in REGISTRAR_CONSOLE_ASSETS=\(directory)", status: .notFound)
            }
            bytes = Array(data)
        }
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.cacheControl] = "no-cache"
        headers[.xContentTypeOptions] = "nosniff"
        // Scripts and styles come from these files only; nothing inline, nothing from elsewhere.
        headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        headers[.referrerPolicy] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func redirect(to location: String) -> Response {
        Response(status: .found, headers: [.location: location])
    }
}

extension HTTPField.Name {
    fileprivate static let xContentTypeOptions = Self("X-Content-Type-Options")!
    fileprivate static let referrerPolicy = Self("Referrer-Policy")!
}
