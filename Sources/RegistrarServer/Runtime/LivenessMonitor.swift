import NIOCore
import Synchronization

/// Finds connections that have gone quiet and asks them whether they are still there.
///
/// Every `scanInterval`, each registered connection idle for `idleBeforeDetection` gets a
/// ClientDetectionRequest; one that does not answer within the detection timeout is dropped, and
/// its instances with it. (Dead TCP peers are caught sooner by the transport's keepalive PINGs.)
///
/// Threading: the scan runs on `loop`; each connection handles its detection on its own loop.
final class LivenessMonitor: Sendable {
    private let connections: ConnectionTable
    private let scanInterval: TimeAmount
    private let idleBeforeDetection: TimeAmount
    private let loop: any EventLoop
    private let task = Mutex<RepeatedTask?>(nil)

    init(connections: ConnectionTable, scanInterval: TimeAmount, idleBeforeDetection: TimeAmount, loop: any EventLoop) {
        self.connections = connections
        self.scanInterval = scanInterval
        self.idleBeforeDetection = idleBeforeDetection
        self.loop = loop
    }

    func start() {
        let connections = self.connections
        let idleMillis = idleBeforeDetection.nanoseconds / 1_000_000
        let scan = loop.scheduleRepeatedTask(initialDelay: scanInterval, delay: scanInterval) { _ in
            let now = monotonicMillis()
            for connection in connections.all where now - connection.lastActive.load(ordering: .relaxed) >= idleMillis {
                connection.detect()
            }
        }
        task.withLock { $0 = scan }
    }

    func stop() {
        task.withLock { $0.take() }?.cancel()
    }
}
