/// A request body read field by field by `JSONReader` rather than through `JSONDecoder`; see
/// `JSONReader` for why. Conforming types keep their `Codable` conformance, and the two must
/// agree (`Tests/RegistrarWireTests/JSONReaderTests.swift` checks them against each other).
protocol JSONReadable {
    /// Reads the value the reader is on; unknown keys are skipped.
    init(json: inout JSONReader) throws(JSONReadError)
}

extension JSONReader {
    /// Reads a nested value of `field`, naming the field in any error.
    mutating func nested<T: JSONReadable>(_ type: T.Type, _ field: JSONKey) throws(JSONReadError) -> T? {
        if try isNull() { return nil }
        do throws(JSONReadError) {
            return try T(json: &self)
        } catch {
            throw error.nested(in: field.name)
        }
    }

    /// Reads an array of `T` of `field`, naming the field and index in any error.
    mutating func nestedArray<T: JSONReadable>(_ type: T.Type, _ field: JSONKey) throws(JSONReadError) -> [T]? {
        guard var cursor = try array(field) else { return nil }
        var elements: [T] = []
        while try nextElement(in: &cursor) {
            do throws(JSONReadError) {
                if try isNull() { throw JSONReadError.mismatch(path: [], expected: String(describing: T.self)) }
                elements.append(try T(json: &self))
            } catch {
                throw error.nested(in: "[\(elements.count)]").nested(in: field.name)
            }
        }
        return elements
    }

    /// Consumes a `null` if the reader is on one.
    mutating func isNull() throws(JSONReadError) -> Bool {
        skipWhitespace()
        guard position < buffer.count, buffer[position] == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }
}
