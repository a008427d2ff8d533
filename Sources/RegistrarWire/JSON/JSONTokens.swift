/// Why a body could not be read: not JSON at all, or a field of the wrong kind.
enum JSONReadError: Error {
    case invalid
    /// `path` runs from the outermost field in.
    case mismatch(path: [String], expected: String)

    /// The same error seen from the enclosing field `name` (an object key or `[index]`).
    func nested(in name: String) -> JSONReadError {
        switch self {
        case .invalid: .invalid
        case .mismatch(let path, let expected): .mismatch(path: [name] + path, expected: expected)
        }
    }

    /// In the words `BodyDecoder` uses for `JSONDecoder`'s errors.
    var detail: String {
        switch self {
        case .invalid: "body is not valid JSON"
        case .mismatch(let path, let expected): "field '\(path.joined(separator: "."))' should be \(expected)"
        }
    }
}

/// An object key (or string value) as read: a view of the document's bytes when they are plain
/// ASCII, else the decoded text. Compared with the key names a type knows without building a
/// `String`.
struct JSONKey {
    private let raw: UnsafeRawBufferPointer?
    private let decoded: String?

    init(raw: UnsafeRawBufferPointer) {
        self.raw = raw
        self.decoded = nil
    }

    init(decoded: String) {
        self.raw = nil
        self.decoded = decoded
    }

    /// The key as text (also the value of a string token).
    var name: String {
        if let decoded { return decoded }
        // Raw tokens are ASCII (the reader keeps any other text decoded).
        return String(decoding: raw!, as: UTF8.self)
    }

    static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        guard let raw = key.raw else { return key.decoded == pattern.description }
        guard raw.count == pattern.utf8CodeUnitCount else { return false }
        return raw.elementsEqual(UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount))
    }
}

extension JSONReader {
    /// A number's text, checked against RFC 8259's grammar.
    struct NumberToken {
        let bytes: UnsafeRawBufferPointer
        /// No fraction and no exponent.
        let isInteger: Bool
    }

    /// Reads a number; nil (and nothing consumed) when the value is not a number.
    mutating func numberToken() throws(JSONReadError) -> NumberToken? {
        let start = position
        var cursor = start
        func byte(_ at: Int) -> UInt8? { at < buffer.count ? buffer[at] : nil }
        func digits(from: Int) -> Int {
            var end = from
            while let b = byte(end), b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { end += 1 }
            return end
        }
        if byte(cursor) == UInt8(ascii: "-") { cursor += 1 }
        guard let first = byte(cursor), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            if cursor != start { throw .invalid }
            return nil
        }
        cursor = first == UInt8(ascii: "0") ? cursor + 1 : digits(from: cursor)
        var isInteger = true
        if byte(cursor) == UInt8(ascii: ".") {
            let end = digits(from: cursor + 1)
            guard end > cursor + 1 else { throw .invalid }
            cursor = end
            isInteger = false
        }
        if byte(cursor) == UInt8(ascii: "e") || byte(cursor) == UInt8(ascii: "E") {
            cursor += 1
            if byte(cursor) == UInt8(ascii: "+") || byte(cursor) == UInt8(ascii: "-") { cursor += 1 }
            let end = digits(from: cursor)
            guard end > cursor else { throw .invalid }
            cursor = end
            isInteger = false
        }
        advance(to: cursor)
        return NumberToken(bytes: UnsafeRawBufferPointer(rebasing: buffer[start..<cursor]), isInteger: isInteger)
    }

    /// Reads a string token (the reader is on its opening quote).
    mutating func stringToken() throws(JSONReadError) -> JSONKey {
        let start = position + 1
        var cursor = start
        var isASCII = true
        while cursor < buffer.count {
            let b = buffer[cursor]
            if b == UInt8(ascii: "\"") {
                let text = UnsafeRawBufferPointer(rebasing: buffer[start..<cursor])
                advance(to: cursor + 1)
                if isASCII { return JSONKey(raw: text) }
                // Keep the validated text rather than decoding the bytes a second time later.
                guard let validated = String(validating: text, as: UTF8.self) else { throw .invalid }
                return JSONKey(decoded: validated)
            }
            if b == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if b < 0x20 { throw .invalid }
            if b >= 0x80 { isASCII = false }
            cursor += 1
        }
        throw .invalid
    }

    /// The slow path for a string with escapes: decodes it into new storage.
    private mutating func escapedString(from start: Int) throws(JSONReadError) -> JSONKey {
        var text: [UInt8] = []
        var cursor = start
        func hex4(_ at: Int) throws(JSONReadError) -> UInt32 {
            guard at + 4 <= buffer.count else { throw .invalid }
            var value: UInt32 = 0
            for b in buffer[at..<at + 4] {
                guard let digit = UInt32(ascii: b, radix: 16) else { throw .invalid }
                value = value << 4 | digit
            }
            return value
        }
        while cursor < buffer.count {
            let b = buffer[cursor]
            switch b {
            case UInt8(ascii: "\""):
                advance(to: cursor + 1)
                guard let string = String(validating: text, as: UTF8.self) else { throw .invalid }
                return JSONKey(decoded: string)
            case UInt8(ascii: "\\"):
                guard cursor + 1 < buffer.count else { throw .invalid }
                cursor += 2
                switch buffer[cursor - 1] {
                case UInt8(ascii: "\""): text.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): text.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): text.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4(cursor)
                    cursor += 4
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard cursor + 1 < buffer.count, buffer[cursor] == UInt8(ascii: "\\"),
                            buffer[cursor + 1] == UInt8(ascii: "u")
                        else { throw .invalid }
                        let low = try hex4(cursor + 2)
                        guard (0xDC00...0xDFFF).contains(low) else { throw .invalid }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        cursor += 6
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .invalid }
                    text.append(contentsOf: String(unicode).utf8)
                default:
                    throw .invalid
                }
            default:
                guard b >= 0x20 else { throw .invalid }
                text.append(b)
                cursor += 1
            }
        }
        throw .invalid
    }
}

extension UInt32 {
    fileprivate init?(ascii byte: UInt8, radix: Int) {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self = UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self = UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self = UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

extension Int {
    /// Parses the digits of a checked integer token; nil when it overflows.
    init?(ascii bytes: UnsafeRawBufferPointer) {
        var value = 0
        let negative = bytes.first == UInt8(ascii: "-")
        for b in bytes.dropFirst(negative ? 1 : 0) {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let digit = Int(b - UInt8(ascii: "0"))
            let (next, overflow2) =
                negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
        }
        self = value
    }
}

extension Double {
    /// Parses a checked number token; nil when it is out of range (as `JSONDecoder` refuses).
    init?(ascii bytes: UnsafeRawBufferPointer) {
        guard let value = Double(String(decoding: bytes, as: UTF8.self)), value.isFinite else { return nil }
        self = value
    }
}
