// registrar-fuzz: the fuzz targets of every parser a client or peer can reach (FuzzTarget.swift).
//
// Built with `-sanitize=fuzzer,address -DFUZZING` (scripts/fuzz), this is a libFuzzer binary: the
// target comes from REGISTRAR_FUZZ_TARGET and every argument goes to libFuzzer. A plain build
// (the test command's) replays files instead, so every committed seed and crash reproducer runs
// in CI as a regression test:
//
//     registrar-fuzz replay [--root Fuzz] [target…]   every file of Fuzz/{corpus,regressions}/<target>/
//     registrar-fuzz seeds [--root Fuzz]               derives payload, cluster and grpc seeds from json
import Foundation
import FuzzDriver

/// Runs one input; libFuzzer calls this for every input it makes.
func runOne(_ target: FuzzTarget, _ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    target.run(bytes)
    return 0
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("registrar-fuzz: \(message)\n".utf8))
    exit(2)
}

let targetNames = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")

#if FUZZING
    guard let name = ProcessInfo.processInfo.environment["REGISTRAR_FUZZ_TARGET"] else {
        fail("set REGISTRAR_FUZZ_TARGET to one of: \(targetNames)")
    }
    guard let selected = FuzzTarget(rawValue: name) else { fail("unknown target '\(name)'; targets: \(targetNames)") }
    nonisolated(unsafe) let fuzzed = selected

    @_cdecl("LLVMFuzzerTestOneInput")
    func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { runOne(fuzzed, data, size) }

    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { runOne(fuzzed, $0, $1) })
#else
    var arguments = Array(CommandLine.arguments.dropFirst())
    var root = URL(fileURLWithPath: "Fuzz")
    if let flag = arguments.firstIndex(of: "--root") {
        guard flag + 1 < arguments.count else { fail("--root needs a directory") }
        root = URL(fileURLWithPath: arguments[flag + 1])
        arguments.removeSubrange(flag...(flag + 1))
    }
    switch arguments.first {
    case "replay":
        let names = arguments.dropFirst()
        var targets: [FuzzTarget] = []
        for name in names {
            guard let target = FuzzTarget(rawValue: name) else {
                fail("unknown target '\(name)'; targets: \(targetNames)")
            }
            targets.append(target)
        }
        let total = Replay.run(targets.isEmpty ? FuzzTarget.allCases : targets, root: root)
        guard total > 0 else { fail("no inputs under \(root.path); run from the repository root or pass --root") }
    case "seeds":
        do {
            try Seeds.derive(root: root)
        } catch {
            fail("\(error)")
        }
    default:
        print("usage: registrar-fuzz replay [--root DIR] [TARGET...] | seeds [--root DIR]\ntargets: \(targetNames)")
        for target in FuzzTarget.allCases { print("  \(target.rawValue): \(target.summary)") }
        exit(arguments.isEmpty ? 0 : 2)
    }
#endif
