import NIOCore

/// Finds connections that have gone quiet and asks them whether they are still there.
///
/// Every `livenessScanInterval`, each registered connection idle for `idleBeforeDetection` gets
/// a ClientDetectionRequest; one that does not answer within `detectionTimeout` is dropped, and
/// its instances with it. (Dead TCP peers are caught sooner by the transport's keepalive PINGs.)
///
/// Threading: the scan runs on `loop`; each connection handles its detection on its own loop.
final class LivenessMonitor: Sendable {
    private let runtime: NamingRuntime
    private let task: RepeatedTask

    init(runtime: NamingRuntime, loop: EventLoop) {
        self.runtime = runtime
        let configuration = runtime.configuration
        let idleMillis = configuration.idleBeforeDetection.nanoseconds / 1_000_000
        self.task = loop.scheduleRepeatedTask(initialDelay: configuration.livenessScanInterval, delay: configuration.livenessScanInterval) { _ in
            let now = monotonicMillis()
            for connection in runtime.connections.all where now - connection.lastActive.load(ordering: .relaxed) >= idleMillis {
                connection.detect()
            }
        }
    }

    func stop() {
        task.cancel()
    }
}

