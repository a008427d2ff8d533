import Testing

@testable import RegistrarServer

@Suite("Unknown gRPC request types")
struct UnknownRequestTypesTests {
    @Test func eachTypeIsLoggedOnceAndAFloodOfNewOnesStopsBeingLogged() {
        let types = UnknownRequestTypes()
        #expect(types.firstSighting(of: "NamingFuzzyWatchRequest") == "NamingFuzzyWatchRequest")
        #expect(types.firstSighting(of: "NamingFuzzyWatchRequest") == nil)
        // What reaches the log is one short line.
        #expect(types.firstSighting(of: "Evil\nline") == "Evil?line")
        let long = String(repeating: "x", count: 500)
        #expect(types.firstSighting(of: long)?.count == UnknownRequestTypes.maximumLoggedLength)
        var logged = 3
        for index in 0..<200 where types.firstSighting(of: "Random\(index)") != nil { logged += 1 }
        #expect(logged == UnknownRequestTypes.maximumRemembered)
    }
}
