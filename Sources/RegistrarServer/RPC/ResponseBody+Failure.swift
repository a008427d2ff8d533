import RegistrarCore
import RegistrarWire

extension ResponseBody {
    /// A typed response that failed (for example `InstanceResponse` after a parameter check).
    static func failure(
        _ error: RegistryError, requestId: String? = nil, extra: (inout JSONWriter) -> Void = { _ in }
    ) -> [UInt8] {
        make(resultCode: 500, errorCode: error.code, message: error.message, requestId: requestId, extra: extra)
    }
}
