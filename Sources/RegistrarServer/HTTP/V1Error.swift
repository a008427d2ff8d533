import Hummingbird
import Logging
import NIOCore
import RegistrarCore

/// A refused v1 request: the status, and a plain-text message meant for the person reading it.
/// (Nacos 2.4.2+ answers errors the same way; older clients match on substrings.)
struct V1Error: Error {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// Maps a registry refusal onto HTTP: Nacos's error code is the status for 4xx codes.
    init(_ error: RegistryError) {
        switch error.code {
        case 404: self.init(.notFound, error.message)
        case 400..<500: self.init(.init(code: error.code), error.message)
        case 500: self.init(.internalServerError, error.message)
        case 501: self.init(.notImplemented, error.message)
        case 503: self.init(.serviceUnavailable, error.message)
        default: self.init(.badRequest, error.message)
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

/// Turns every failure into a 4xx/5xx with a readable text body: registry refusals, bad
/// parameters, an unknown path (`no such api:METHOD:URI`, as Nacos says), an oversized body.
/// Anything unexpected is logged and answered 500 without taking the server down.
struct V1ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as V1Error {
            return error.response
        } catch let error as RegistryError {
            return V1Error(error).response
        } catch let error as NIOTooManyBytesError {
            return V1Response.text(
                "request body too large: the limit is \(error.maxBytes.map(String.init) ?? "?") bytes",
                status: .contentTooLarge)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound where error.body == nil, .methodNotAllowed:
                return V1Response.text("no such api:\(request.method):\(request.uri.path)", status: .notFound)
            case .contentTooLarge:
                return V1Response.text("request body too large", status: .contentTooLarge)
            default:
                return V1Response.text(error.body ?? error.status.reasonPhrase, status: error.status)
            }
        } catch {
            context.logger.error(
                "v1 request failed unexpectedly",
                metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            return V1Response.text("internal error: \(error)", status: .internalServerError)
        }
    }
}
