import Foundation
import RegistrarCore

/// The parameters of one v1 request, read as Nacos reads them (`request.getParameter`): from
/// the query string and from an `application/x-www-form-urlencoded` body, for any method. Values
/// are trimmed, and a blank value counts as absent. The first occurrence of a key wins.
///
/// Threading: a value type, used by one request.
struct V1Parameters {
    private var values: [Substring: String] = [:]
    /// Set when the body was JSON, which v1 does not read; errors then say so.
    var ignoredBodyType: String?
    /// The parameters as they came (for forwarding the request to another member).
    let query: String?
    let form: String?

    init(query: String?, form: String?) {
        self.query = query
        self.form = form
        for source in [query, form] {
            guard let source, !source.isEmpty else { continue }
            for pair in source.split(separator: "&", omittingEmptySubsequences: true) {
                let equals = pair.firstIndex(of: "=")
                let key = V1Parameters.decode(equals.map { pair[..<$0] } ?? pair)
                guard values[Substring(key)] == nil else { continue }
                let value = equals.map { V1Parameters.decode(pair[pair.index(after: $0)...]) } ?? ""
                values[Substring(key)] = value
            }
        }
    }

    /// Form decoding: `+` is a space, then `%XX` escapes; a malformed escape stays as sent, and
    /// bytes that are not UTF-8 are repaired. (Hummingbird's query accessor keeps `+`, which
    /// Python's and Java's encoders use for spaces, and Foundation's decoder is slow on Linux:
    /// this runs for every parameter of every beat.)
    private static func decode(_ text: Substring) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var index = text.utf8.startIndex
        while index != text.utf8.endIndex {
            let byte = text.utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"),
                let high = text.utf8.index(index, offsetBy: 1, limitedBy: text.utf8.endIndex),
                high != text.utf8.endIndex, let low = text.utf8.index(high, offsetBy: 1, limitedBy: text.utf8.endIndex),
                low != text.utf8.endIndex, let value = hexValue(text.utf8[high], text.utf8[low])
            {
                bytes.append(value)
                index = low
            } else {
                bytes.append(byte)
            }
            index = text.utf8.index(after: index)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ high: UInt8, _ low: UInt8) -> UInt8? {
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        guard let high = nibble(high), let low = nibble(low) else { return nil }
        return high << 4 | low
    }

    /// The value without leading and trailing control characters and spaces (Java's
    /// `String.trim`), or nil when absent or blank.
    func optional(_ key: String) -> String? {
        guard let raw = values[Substring(key)] else { return nil }
        let utf8 = raw.utf8
        guard let first = utf8.firstIndex(where: { $0 > 0x20 }) else { return nil }
        let last = utf8.lastIndex(where: { $0 > 0x20 })!
        if first == utf8.startIndex && utf8.index(after: last) == utf8.endIndex { return raw }
        return String(raw[first...last])
    }

    func required(_ key: String) throws(V1Error) -> String {
        guard let value = optional(key) else {
            var message = "Param '\(key)' is required."
            if let ignoredBodyType {
                message +=
                    " (The \(ignoredBodyType) body was not read: the v1 API takes parameters in the query string or a form body.)"
            }
            throw V1Error(.badRequest, message, code: .parameterMissing)
        }
        return value
    }

    /// Nacos's `ConvertUtils.toBoolean`: `true`, `yes`, `on`, `y` and `t` in any case are true.
    func bool(_ key: String, default defaultValue: Bool) -> Bool {
        guard let value = optional(key) else { return defaultValue }
        return ["true", "yes", "on", "y", "t"].contains(value.lowercased())
    }

    func int(_ key: String) throws(V1Error) -> Int? {
        guard let text = optional(key) else { return nil }
        guard let value = Int(text) else {
            throw V1Error(.badRequest, "Param '\(key)' is illegal, '\(text)' is not an integer.")
        }
        return value
    }

    func double(_ key: String) throws(V1Error) -> Double? {
        guard let text = optional(key) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw V1Error(.badRequest, "Param '\(key)' is illegal, '\(text)' is not a number.")
        }
        return value
    }

    /// A required port, 0…65535 (the 2.3+ parameter check's wording).
    func port() throws(V1Error) -> Int {
        let text = try required("port")
        guard let port = Int(text), (0...65535).contains(port) else {
            throw V1Error(.badRequest, "Param 'port' is illegal, the value should be between 0 and 65535.")
        }
        return port
    }

    /// An optional weight, 0…10000.
    func weight() throws(V1Error) -> Double? {
        guard let weight = try double("weight") else { return nil }
        guard (0...10000).contains(weight) else {
            throw V1Error(
                .badRequest, "instance format invalid: The weights range from 0.0 to 10000.0", code: .weightError)
        }
        return weight
    }

    /// The service named by `serviceName` (which may be `group@@name`), `groupName` and
    /// `namespaceId`, validated.
    func service(validation: Validation) throws(V1Error) -> ServiceKey {
        let serviceName = try required("serviceName")
        let group: String?
        let name: String
        let parts = serviceName.split(separator: ServiceKey.groupSeparator, omittingEmptySubsequences: false)
        if parts.count > 1 {
            guard parts.count == 2, !parts[1].isEmpty else {
                throw V1Error(
                    .badRequest, "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'")
            }
            guard !parts[0].isEmpty else {
                throw V1Error(.badRequest, "Param 'serviceName' is illegal, groupName can't be empty")
            }
            group = String(parts[0])
            name = String(parts[1])
        } else {
            group = optional("groupName")
            name = serviceName
        }
        let key = ServiceKey(namespace: optional("namespaceId"), group: group, name: name)
        do {
            try validation.check(service: key)
        } catch {
            throw V1Error(error)
        }
        return key
    }

    /// `metadata` as a JSON object (numbers and booleans become strings) or as `k=v,k=v`.
    func metadata(_ key: String = "metadata") throws(V1Error) -> [String: String]? {
        guard let text = optional(key) else { return nil }
        return try V1Parameters.parseMetadata(text)
    }

    static func parseMetadata(_ text: String) throws(V1Error) -> [String: String] {
        let incorrect = V1Error(
            .badRequest, "metadata format incorrect:\(text) (expected a JSON object of string values, or k=v,k=v)",
            code: .instanceMetadataError)
        if text.first == "{" {
            guard let map = try? JSONDecoder().decode([String: LooseString].self, from: Data(text.utf8)) else {
                throw incorrect
            }
            return map.compactMapValues(\.value)
        }
        var map: [String: String] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw incorrect }
            map[String(parts[0])] = String(parts[1])
        }
        return map
    }
}

/// A JSON scalar read as a string, as Nacos coerces metadata values (`1` becomes `"1"`);
/// `null` is dropped, and an object or array is an error.
struct LooseString: Decodable {
    var value: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = nil
        } else if let string = try? container.decode(String.self) {
            value = string
        } else if let bool = try? container.decode(Bool.self) {
            value = bool ? "true" : "false"
        } else if let integer = try? container.decode(Int64.self) {
            value = String(integer)
        } else {
            value = String(try container.decode(Double.self))
        }
    }
}
