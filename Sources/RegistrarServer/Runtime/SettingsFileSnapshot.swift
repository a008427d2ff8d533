import Configuration
import Foundation

/// The config file of `registrar serve` for swift-configuration's `FileProvider`: `key = value` lines
/// whose keys are `ServeKey`s; blank lines and lines starting with `#` are skipped. An unknown key
/// or a line without `=` is an error that names its line, so a typo never passes silently.
public struct SettingsFileSnapshot: FileConfigSnapshot {
    public struct ParsingOptions: FileParsingOptions {
        public static var `default`: ParsingOptions { ParsingOptions() }
    }

    public let providerName: String
    private let values: [String: String]

    public init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) throws {
        self.providerName = providerName
        values = try Self.parse(data.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    static func parse(_ text: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw SettingsError("line \(index + 1): expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard ServeKey(rawValue: key) != nil else {
                let known = ServeKey.allCases.map(\.rawValue).joined(separator: ", ")
                throw SettingsError("line \(index + 1): unknown key '\(key)' (known: \(known))")
            }
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    public func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let name = key.description
        guard let text = values[name] else { return LookupResult(encodedKey: name, value: nil) }
        let isSecret = ServeKey(rawValue: name)?.isSecret ?? false
        let content: ConfigContent
        switch type {
        case .string: content = .string(text)
        case .stringArray: content = .stringArray(text.split(separator: ",").map(String.init))
        default: throw SettingsError("\(name) is read as \(type.rawValue), which a config file does not hold")
        }
        return LookupResult(encodedKey: name, value: ConfigValue(content, isSecret: isSecret))
    }

    public var description: String { "config file[\(values.count) values]" }

    public var debugDescription: String {
        let shown = values.keys.sorted().map { key in
            "\(key)=\(ServeKey(rawValue: key)?.isSecret == true ? "<REDACTED>" : values[key] ?? "")"
        }
        return "config file[\(shown.joined(separator: ", "))]"
    }
}
