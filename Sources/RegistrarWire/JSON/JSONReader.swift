/// A pull reader over one JSON document, for the request bodies every client sends all the time.
///
/// Why not `JSONDecoder` for these: perf put Foundation's decoder at a quarter of a
/// registration's server CPU, and most of that was `Codable`'s generic machinery (container
/// boxes, runtime type lookups), not scanning. The hot request types (`JSONReadable`) read their
/// fields straight from the bytes instead; every other body still goes through `JSONDecoder`,
/// and a differential test holds the two to the same results.
///
/// Strict: the whole document must be JSON (RFC 8259) with strings of valid UTF-8, a field of
/// the wrong type is an error that names the field, unknown keys are skipped (but still
/// checked), and `null` reads as an absent field. Two differences from `JSONDecoder`, both on
/// bodies no Nacos client sends: it refuses malformed values under unknown keys and trailing
/// commas, which `JSONDecoder` lets through, and a repeated key keeps its last value where
/// `JSONDecoder` keeps the first.
///
/// The reader borrows the bytes: use it only inside the closure that lends them (`read(_:from:)`).
struct JSONReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var position = 0

    /// Objects and arrays nested deeper than this are refused, as `JSONDecoder` does.
    static let maximumDepth = 512

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    mutating func advance(to position: Int) {
        self.position = position
    }

    /// Decodes a whole document as `T`.
    static func read<T: JSONReadable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(JSONReadError) -> T {
        var reader = JSONReader(bytes)
        do throws(JSONReadError) {
            let value = try T(json: &reader)
            reader.skipWhitespace()
            guard reader.position == bytes.count else { throw .invalid }
            return value
        } catch .mismatch(let path, let expected) {
            // A wrong type in a document that is not JSON at all: report the document.
            var whole = JSONReader(bytes)
            try whole.skipValue()
            whole.skipWhitespace()
            guard whole.position == bytes.count else { throw .invalid }
            throw .mismatch(path: path, expected: expected)
        }
    }

    // MARK: Containers

    /// Where an object or array is in its members: reading the first or a later one.
    struct Cursor {
        fileprivate var first = true
    }

    /// Enters the object the reader is on (a document's top level, or a nested value already
    /// known not to be `null`).
    mutating func object() throws(JSONReadError) -> Cursor {
        guard peekValueStart() == UInt8(ascii: "{") else {
            try skipValue()
            throw .mismatch(path: [], expected: "an object")
        }
        position += 1
        return Cursor()
    }

    /// Enters the object of `field`; nil for `null`.
    mutating func object(_ field: JSONKey) throws(JSONReadError) -> Cursor? {
        try enter(UInt8(ascii: "{"), field, expected: "an object")
    }

    /// The next key of the object, with the reader placed on its value; nil after the last.
    mutating func nextKey(in cursor: inout Cursor) throws(JSONReadError) -> JSONKey? {
        guard try nextMember(in: &cursor, closer: UInt8(ascii: "}")) else { return nil }
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw .invalid }
        let key = try stringToken()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw .invalid }
        position += 1
        return key
    }

    /// Enters the array of `field`; nil for `null`.
    mutating func array(_ field: JSONKey) throws(JSONReadError) -> Cursor? {
        try enter(UInt8(ascii: "["), field, expected: "an array")
    }

    /// Moves to the next element of the array; false after the last.
    mutating func nextElement(in cursor: inout Cursor) throws(JSONReadError) -> Bool {
        try nextMember(in: &cursor, closer: UInt8(ascii: "]"))
    }

    private mutating func enter(_ opener: UInt8, _ field: JSONKey, expected: String) throws(JSONReadError) -> Cursor? {
        switch peekValueStart() {
        case opener:
            position += 1
            return Cursor()
        case UInt8(ascii: "n"):
            try literal("null")
            return nil
        default:
            throw try mismatch(field, expected: expected)
        }
    }

    /// Steps over the comma before the next member, or the closer after the last. (A closer
    /// right after a comma is left for the member's reader to refuse.)
    private mutating func nextMember(in cursor: inout Cursor, closer: UInt8) throws(JSONReadError) -> Bool {
        skipWhitespace()
        if peek() == closer {
            position += 1
            return false
        }
        if !cursor.first {
            guard peek() == UInt8(ascii: ",") else { throw .invalid }
            position += 1
        }
        cursor.first = false
        return true
    }

    // MARK: Values

    mutating func string(_ field: JSONKey) throws(JSONReadError) -> String? {
        switch peekValueStart() {
        case UInt8(ascii: "\""): return try stringToken().name
        case UInt8(ascii: "n"): try literal("null"); return nil
        default: throw try mismatch(field, expected: "String")
        }
    }

    mutating func bool(_ field: JSONKey) throws(JSONReadError) -> Bool? {
        switch peekValueStart() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        case UInt8(ascii: "n"): try literal("null"); return nil
        default: throw try mismatch(field, expected: "Bool")
        }
    }

    /// An integer; like `JSONDecoder`, `8080.0` and `1e3` are accepted, `80.5` is not.
    mutating func int(_ field: JSONKey) throws(JSONReadError) -> Int? {
        if peekValueStart() == UInt8(ascii: "n") { try literal("null"); return nil }
        guard let number = try numberToken() else { throw try mismatch(field, expected: "Int") }
        if number.isInteger, let value = Int(ascii: number.bytes) { return value }
        guard let double = Double(ascii: number.bytes), let value = Int(exactly: double) else {
            throw .mismatch(path: [field.name], expected: "Int")
        }
        return value
    }

    mutating func double(_ field: JSONKey) throws(JSONReadError) -> Double? {
        if peekValueStart() == UInt8(ascii: "n") { try literal("null"); return nil }
        guard let number = try numberToken(), let value = Double(ascii: number.bytes) else {
            throw try mismatch(field, expected: "Double")
        }
        return value
    }

    /// An object whose values are all strings (instance metadata, labels).
    mutating func stringMap(_ field: JSONKey) throws(JSONReadError) -> [String: String]? {
        guard var cursor = try object(field) else { return nil }
        var map: [String: String] = [:]
        do throws(JSONReadError) {
            while let key = try nextKey(in: &cursor) {
                guard let value = try string(key) else { throw .mismatch(path: [key.name], expected: "String") }
                map[key.name] = value
            }
        } catch {
            throw error.nested(in: field.name)
        }
        return map
    }

    /// Skips one value of any kind, checking that it is well-formed.
    mutating func skipValue(depth: Int = 0) throws(JSONReadError) {
        guard depth < Self.maximumDepth else { throw .invalid }
        switch peekValueStart() {
        case UInt8(ascii: "{"):
            position += 1
            var cursor = Cursor()
            while try nextKey(in: &cursor) != nil { try skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            position += 1
            var cursor = Cursor()
            while try nextElement(in: &cursor) { try skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): _ = try stringToken()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: guard try numberToken() != nil else { throw .invalid }
        }
    }

    // MARK: Tokens

    private func peek() -> UInt8? {
        position < buffer.count ? buffer[position] : nil
    }

    private mutating func peekValueStart() -> UInt8? {
        skipWhitespace()
        return peek()
    }

    mutating func skipWhitespace() {
        while position < buffer.count {
            switch buffer[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONReadError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= buffer.count else { throw .invalid }
        for offset in 0..<count where buffer[position + offset] != word.utf8Start[offset] {
            throw .invalid
        }
        position += count
    }

    /// The error for a value of the wrong kind, once the value is known to be valid JSON (an
    /// invalid document is reported as such, whatever the field expected).
    private mutating func mismatch(_ field: JSONKey, expected: String) throws(JSONReadError) -> JSONReadError {
        try skipValue()
        return .mismatch(path: [field.name], expected: expected)
    }
}
