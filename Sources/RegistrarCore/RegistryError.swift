/// A rejected command. `code` is the Nacos error code that the fronts put in `errorCode`.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String
    /// The v2/v3 HTTP APIs' error code (Nacos's `ErrorCode`, such as 21007 for a service that
    /// already exists), when it says more than `code`.
    public var detail: Int?

    public init(code: Int, message: String, detail: Int? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// Nacos INVALID_PARAM (400).
    public static func invalidParameter(_ message: String, detail: Int? = nil) -> RegistryError {
        RegistryError(code: 400, message: message, detail: detail)
    }

    /// Nacos NOT_FOUND (404): the named instance or service does not exist.
    public static func notFound(_ message: String, detail: Int? = nil) -> RegistryError {
        RegistryError(code: 404, message: message, detail: detail)
    }

    /// The `detail` codes the registry sets (Nacos's `ErrorCode`).
    public enum Detail {
        public static let instanceError = 21004
        public static let serviceAlreadyExists = 21007
        public static let serviceNotExist = 21008
        public static let serviceDeleteFailure = 21009
        public static let illegalNamespace = 22000
        public static let namespaceNotExist = 22001
        public static let namespaceAlreadyExists = 22002
    }

    /// A failed parameter check, worded as Nacos words it.
    public static func paramCheck(_ detail: String) -> RegistryError {
        RegistryError(code: 400, message: "Param check invalid:\(detail)")
    }

    /// Nacos CLIENT_DISCONNECT (-401): the client is not (or no longer) known.
    public static func clientDisconnected(_ id: ClientID) -> RegistryError {
        RegistryError(
            code: -401, message: "Client [\(id)] connection already disconnect, can't register ephemeral instance.")
    }

    public var description: String { "\(code): \(message)" }
}
