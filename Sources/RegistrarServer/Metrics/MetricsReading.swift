/// The samples of a Prometheus text exposition, for the readers that need values rather than
/// text: the Nacos JSON endpoint, the console's rates and the shutdown log. Reads only what
/// `RegistrarMetrics` writes (no escapes in label values, which are ours).
///
/// Threading: a value.
struct MetricsReading: Sendable {
    struct Sample: Sendable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    private(set) var samples: [Sample] = []

    init(exposition: [UInt8]) {
        for line in String(decoding: exposition, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            if let sample = Self.parse(line) { samples.append(sample) }
        }
    }

    /// The sum of every sample of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.reduce(0) { sum, sample in
            guard sample.name == name, labels.allSatisfy({ sample.labels[$0.key] == $0.value }) else { return sum }
            return sum + sample.value
        }
    }

    /// `value` as a count.
    func count(_ name: String, _ labels: [String: String] = [:]) -> Int {
        Int(value(name, labels))
    }

    func count(_ series: CounterSeries) -> Int {
        count(series.name, Dictionary(uniqueKeysWithValues: series.labels))
    }

    /// `name{a="x",b="y"} 12` or `name 12`.
    private static func parse(_ line: Substring) -> Sample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            return nil
        }
        let series = line[..<space]
        guard let open = series.firstIndex(of: "{") else {
            return Sample(name: String(series), labels: [:], value: value)
        }
        var labels: [String: String] = [:]
        for pair in series[series.index(after: open)...].dropLast().split(separator: ",") {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            labels[String(pair[..<equals])] = String(pair[pair.index(after: equals)...].dropFirst().dropLast())
        }
        return Sample(name: String(series[..<open]), labels: labels, value: value)
    }
}
