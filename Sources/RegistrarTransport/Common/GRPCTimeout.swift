import NIOCore

/// The `grpc-timeout` request header: up to eight digits and a unit (H, M, S, m, u, n).
public enum GRPCTimeout {
    /// Parses a header value; `nil` if it is malformed.
    public static func parse(_ value: String) -> TimeAmount? {
        let utf8 = Array(value.utf8)
        guard utf8.count >= 2, utf8.count <= 9, let amount = Int64(String(decoding: utf8.dropLast(), as: UTF8.self)),
            amount >= 0
        else { return nil }
        switch utf8.last! {
        case UInt8(ascii: "H"): return .hours(amount)
        case UInt8(ascii: "M"): return .minutes(amount)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }

    /// Formats a timeout for the header, in milliseconds.
    public static func headerValue(_ timeout: TimeAmount) -> String {
        "\(max(1, timeout.nanoseconds / 1_000_000))m"
    }
}
