import Hummingbird
import Logging
import NIOCore
import RegistrarCore

/// A refused HTTP request: the status, a plain-text message meant for the person reading it
/// (v1 answers it as the body, as Nacos 2.4.2+ does; older clients match on substrings), and
/// the Nacos error code that the v2 and v3 APIs put in their envelope.
struct V1Error: Error {
    var status: HTTPResponse.Status
    var message: String
    var code: NacosErrorCode

    init(_ status: HTTPResponse.Status, _ message: String, code: NacosErrorCode? = nil) {
        self.status = status
        self.message = message
        self.code = code ?? NacosErrorCode(status: status.code)
    }

    static func missing(_ key: String) -> V1Error {
        V1Error(.badRequest, "Param '\(key)' is required.", code: .parameterMissing)
    }

    static func illegal(_ key: String, _ reason: String) -> V1Error {
        V1Error(.badRequest, "Param '\(key)' is illegal, \(reason)", code: .parameterValidate)
    }

    /// Maps a registry refusal onto HTTP: Nacos's error code is the status for 4xx codes.
    init(_ error: RegistryError) {
        let code = error.detail.flatMap(NacosErrorCode.init(rawValue:))
        switch error.code {
        case 404: self.init(.notFound, error.message, code: code)
        case 400..<500: self.init(.init(code: error.code), error.message, code: code)
        case 500: self.init(.internalServerError, error.message, code: code)
        case 501: self.init(.notImplemented, error.message, code: code)
        case 503: self.init(.serviceUnavailable, error.message, code: code)
        default: self.init(.badRequest, error.message, code: code)
        }
    }

    var response: Response { V1Response.text(message, status: status) }
}

/// Helpers for the plain-text and JSON responses of the v1 API.
enum V1Response {
    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var body = text
        if status != .ok { body += "\n" }
        return Response(
            status: status, headers: [.contentType: "text/plain;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static let ok = text("ok")
}

/// Turns every failure into a 4xx/5xx with a readable reason: registry refusals, bad
/// parameters, an unknown path (`no such api:METHOD:URI`, as Nacos says), an oversized body.
/// v1 answers it as plain text; the v2 and v3 APIs in their `Envelope`. Anything unexpected
/// is logged and answered 500 without taking the server down.
struct V1ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let refusal = Self.refusal(error, request, context)
            return Envelope.isUsed(by: request.uri.path) ? Envelope.failure(refusal) : refusal.response
        }
    }

    private static func refusal(_ error: any Error, _ request: Request, _ context: Context) -> V1Error {
        switch error {
        case let error as V1Error:
            return error
        case let error as RegistryError:
            return V1Error(error)
        case let error as NIOTooManyBytesError:
            return V1Error(
                .contentTooLarge, "request body too large: the limit is \(error.maxBytes.map(String.init) ?? "?") bytes"
            )
        case let error as HTTPError:
            switch error.status {
            case .notFound where error.body == nil, .methodNotAllowed:
                return V1Error(.notFound, "no such api:\(request.method):\(request.uri.path)")
            case .contentTooLarge:
                return V1Error(.contentTooLarge, "request body too large")
            default:
                return V1Error(error.status, error.body ?? error.status.reasonPhrase)
            }
        default:
            context.logger.error(
                "HTTP request failed unexpectedly",
                metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            return V1Error(.internalServerError, "internal error: \(error)")
        }
    }
}
