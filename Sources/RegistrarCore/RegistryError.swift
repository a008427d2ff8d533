/// A rejected command. `code` is the Nacos error code that the fronts put in `errorCode`.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    /// Nacos INVALID_PARAM (400).
    public static func invalidParameter(_ message: String) -> RegistryError {
        RegistryError(code: 400, message: message)
    }

    /// Nacos NOT_FOUND (404): the named instance or service does not exist.
    public static func notFound(_ message: String) -> RegistryError {
        RegistryError(code: 404, message: message)
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
