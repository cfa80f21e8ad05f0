using System.Runtime.CompilerServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The completion of a transfer that one thread sleeps for: the synchronous transfers'
/// <see cref="BioWait"/> and the direct read-ahead windows (<see cref="DirectRead"/>).
/// <see cref="Done"/> runs in interrupt context (possibly a host thread without a virtual CPU),
/// records the result and wakes the sleeper.
///
/// Locks: <see cref="_m"/> (a leaf) protects <see cref="_done"/>, <see cref="_bytes"/> and
/// <see cref="_error"/>; the completion takes only it. Its lock class is the subclass's
/// constructor's call site, so each kind of waiter keeps its own class for LockDebug.
/// </summary>
public abstract class BioCompletion : BioDone
{
    private readonly KMutex _m;
    private readonly KCondvar _cv;
    private bool _done;
    private long _bytes;
    private int _error;

    private protected BioCompletion(Kernel k, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        _m = new KMutex(k, file, line);
        _cv = new KCondvar(k);
    }

    /// <summary>Before starting a transfer that completes into this (none is in flight, so no lock).</summary>
    private protected void Arm() => _done = false;

    /// <summary>
    /// Sleeps until the transfer ends; 0 if <paramref name="length"/> bytes moved, else the errno
    /// (EIO for a short transfer: the image ends early). Again after the end: the same answer.
    /// </summary>
    private protected int WaitDone(long length)
    {
        _m.Enter();
        while (!_done) _cv.Wait(_m);
        long bytes = _bytes;
        int error = _error;
        _m.Exit();
        if (error != 0) return error;
        return bytes == length ? 0 : Abi.EIO;
    }

    public sealed override void Done(long bytes, int error)
    {
        _m.Enter();
        _bytes = bytes;
        _error = error;
        _done = true;
        _cv.Broadcast();
        _m.Exit();
    }
}
