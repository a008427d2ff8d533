import NIOCore

/// gRPC's length-prefixed message framing: one flag byte (compressed or not), a 4-byte big-endian
/// length, then the message.
public enum GRPCFraming {
    /// The size of the prefix in front of every message.
    public static let prefixSize = 5

    /// Frames `message` for the wire, uncompressed.
    public static func frame(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: prefixSize + message.readableBytes)
        out.writeInteger(UInt8(0))
        out.writeInteger(UInt32(message.readableBytes))
        var message = message
        out.writeBuffer(&message)
        return out
    }
}

/// Reassembles length-prefixed messages from DATA frames, enforcing a maximum message size.
///
/// Not thread-safe: one instance belongs to one stream, on that stream's event loop.
public struct GRPCMessageDeframer {
    /// Why a stream's bytes could not be turned into messages.
    public enum Failure: Error, Equatable {
        case messageTooLarge(size: Int, limit: Int)
        case compressedMessage
    }

    private var buffer: ByteBuffer?
    public let maximumMessageSize: Int

    public init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Appends bytes from a DATA frame.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer!.writeBuffer(&bytes)
        }
    }

    /// Returns the next complete message, `nil` when more bytes are needed.
    public mutating func nextMessage() throws(Failure) -> ByteBuffer? {
        guard var current = buffer, current.readableBytes >= GRPCFraming.prefixSize else { return nil }
        let start = current.readerIndex
        let flag: UInt8 = current.getInteger(at: start)!
        let length = Int(current.getInteger(at: start + 1, as: UInt32.self)!)
        if flag != 0 { throw .compressedMessage }
        if length > maximumMessageSize { throw .messageTooLarge(size: length, limit: maximumMessageSize) }
        guard current.readableBytes >= GRPCFraming.prefixSize + length else { return nil }
        current.moveReaderIndex(forwardBy: GRPCFraming.prefixSize)
        let message = current.readSlice(length: length)!
        buffer = current.readableBytes == 0 ? nil : current
        return message
    }

    /// Whether bytes of an unfinished message are waiting.
    public var hasPartialMessage: Bool { (buffer?.readableBytes ?? 0) > 0 }
}
