using System;
using System.Collections.Generic;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// Who polls an object (NetBSD struct selinfo): an object that can become readable or writable
/// (a pipe end, a device, a socket) keeps one per direction. While a poll or select scans, a
/// file's poll routine that finds the object not ready calls <see cref="Record"/> (NetBSD's
/// selrecord(curlwp, sip)); when the object's state changes, its owner calls <see cref="Notify"/>
/// (selnotify), which wakes every poller recorded here.
///
/// Locks: <see cref="_lock"/>, a spin flag held for a few instructions, protects the list; it is
/// taken under the owner's lock (Record and Notify run with it held) and nothing is taken under it.
/// Wake-ups happen after it is dropped.
/// </summary>
public sealed class SelInfo
{
    private PollWaiter?[] _w = Array.Empty<PollWaiter?>();
    private int _n;
    private int _lock;

    /// <summary>Pollers recorded now (diagnostics and tests).</summary>
    internal int Pollers => Volatile.Read(ref _n);

    private void Lock() { while (Interlocked.CompareExchange(ref _lock, 1, 0) != 0) CpuPause.Pause(4); }
    private void Unlock() => Volatile.Write(ref _lock, 0);

    /// <summary>NetBSD selrecord: if <paramref name="l"/> is scanning for poll or select, it is woken when this object changes.</summary>
    public void Record(Lwp l)
    {
        PollWaiter? w = l.PollScan;
        if (w == null) return;
        Lock();
        bool present = false;
        for (int i = 0; i < _n; i++) if (_w[i] == w) { present = true; break; }
        if (!present)
        {
            if (_n == _w.Length) Array.Resize(ref _w, Math.Max(2, _n * 2));
            _w[_n++] = w;
        }
        Unlock();
        if (!present) w.Recorded.Add(this);
    }

    /// <summary>NetBSD selnotify: the object's state changed; every recorded poller rescans.</summary>
    public void Notify()
    {
        if (Volatile.Read(ref _n) == 0) return;
        Lock();
        int n = _n;
        PollWaiter?[] copy = n == 0 ? Array.Empty<PollWaiter?>() : _w[..n];
        Unlock();
        foreach (PollWaiter? w in copy) w?.Wake();
    }

    internal void Remove(PollWaiter w)
    {
        Lock();
        for (int i = 0; i < _n; i++)
            if (_w[i] == w)
            {
                _w[i] = _w[--_n];
                _w[_n] = null;
                break;
            }
        Unlock();
    }
}

/// <summary>
/// One lwp's poll or select in progress (made on its first poll and kept with the lwp): the
/// objects it is recorded on and what wakes it. <see cref="M"/> protects <see cref="Fired"/>.
/// </summary>
public sealed class PollWaiter
{
    internal readonly KMutex M;
    internal readonly KCondvar Cv;
    /// <summary>An object it is recorded on changed since the scan began.</summary>
    internal bool Fired;
    /// <summary>The objects it is recorded on (its own thread's).</summary>
    internal readonly List<SelInfo> Recorded = new();

    internal PollWaiter(Kernel k) { M = new KMutex(k); Cv = new KCondvar(k); }

    internal void Wake()
    {
        M.Enter();
        Fired = true;
        Cv.Broadcast();
        M.Exit();
    }

    /// <summary>A new scan: what changes from now on wakes the waiter.</summary>
    internal void Arm()
    {
        M.Enter();
        Fired = false;
        M.Exit();
    }

    /// <summary>
    /// Sleeps until an object changes, the monotonic <paramref name="deadlineNs"/> passes
    /// (EWOULDBLOCK; -1: no deadline) or the lwp is interrupted (EINTR).
    /// </summary>
    internal int Sleep(long deadlineNs)
    {
        int e = 0;
        M.Enter();
        while (!Fired && e == 0)
        {
            if (deadlineNs < 0) { e = Cv.WaitSig(M); continue; }
            long left = deadlineNs - Clock.MonotonicNs();
            e = left <= 0 ? Abi.EWOULDBLOCK : Cv.TimedWaitSig(M, left);
        }
        M.Exit();
        return e;
    }

    /// <summary>The poll is over: off every object's list.</summary>
    internal void Unrecord()
    {
        foreach (SelInfo si in Recorded) si.Remove(this);
        Recorded.Clear();
    }
}
