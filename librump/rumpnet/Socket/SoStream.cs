using System;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// A protocol that keeps a stream's data in buffers of its own instead of the socket's
/// <see cref="SockBuf"/>s (TCP: its send ring retransmits from, its receive ring reassembles
/// into), so the caller's bytes are copied once, straight between the caller and those buffers.
/// The socket layer hands it the data-moving calls whole (send, receive, poll, FIONREAD); the
/// rest (connect, accept, options, close) stays the socket layer's. Each call takes
/// <see cref="Socket.Lock"/> itself, as the socket layer's own versions do.
/// </summary>
public interface IStreamProtocol
{
    /// <summary>sosend for the stream: as <see cref="Socket.Send"/>.</summary>
    int StreamSend(Socket so, Lwp l, ref Uio uio, int flags, bool nbio);
    /// <summary>soreceive for the stream: as <see cref="Socket.Receive"/> (no addresses, no control).</summary>
    int StreamReceive(Socket so, Lwp l, ref Uio uio, ref int flags, bool nbio);
    /// <summary>sopoll: what of <paramref name="events"/> holds; records the poller where not ready.</summary>
    int StreamPoll(Socket so, Lwp l, int events);
    /// <summary>FIONREAD: bytes ready to be received.</summary>
    int StreamReadable(Socket so);
}
