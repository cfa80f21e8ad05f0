using System;
using System.Runtime.InteropServices;

namespace Rump.Kern;

/// <summary>
/// poll(2), pollts(2), select(2), pselect(2) (NetBSD sys_select.c): scan the descriptors, each file
/// recording the caller on the objects that are not ready (Descrip/Poll.cs), sleep until one of
/// them changes, the timeout passes or the lwp is interrupted (EINTR), and scan again.
/// </summary>
internal static partial class KernSyscalls
{
    /// <summary>sel_flag: what makes a descriptor count in select's read, write and except sets.</summary>
    private static readonly int[] SelFlag =
    {
        Abi.POLLRDNORM | Abi.POLLHUP | Abi.POLLERR,
        Abi.POLLWRNORM | Abi.POLLHUP | Abi.POLLERR,
        Abi.POLLRDBAND,
    };

    private static int Poll(Lwp l, UserPtr fds, uint nfds, int timeout, out long rv)
        => PollCommon(l, fds, nfds, timeout < 0 ? -1 : timeout * 1_000_000L, UserPtr.Null, out rv);

    private static int Pollts(Lwp l, UserPtr fds, uint nfds, UserPtr ts, UserPtr mask, out long rv)
    {
        rv = 0;
        int e = TimeoutFromTimespec(l, ts, out long ns);
        return e != 0 ? e : PollCommon(l, fds, nfds, ns, mask, out rv);
    }

    private static int Select(Lwp l, int nd, UserPtr rin, UserPtr rou, UserPtr rex, UserPtr tv, out long rv)
    {
        rv = 0;
        long ns = -1;
        if (!tv.IsNull)
        {
            int e = l.Proc.Vmspace.CopyIn(tv, out RumpTimeval t);
            if (e != 0) return e;
            if (t.tv_sec < 0 || t.tv_usec < 0 || t.tv_usec >= 1_000_000) return Abi.EINVAL;
            ns = t.tv_sec > long.MaxValue / 1_000_000_000 - 1 ? long.MaxValue / 2 : t.tv_sec * 1_000_000_000 + t.tv_usec * 1000L;
        }
        return SelectCommon(l, nd, rin, rou, rex, ns, UserPtr.Null, out rv);
    }

    private static int Pselect(Lwp l, int nd, UserPtr rin, UserPtr rou, UserPtr rex, UserPtr ts, UserPtr mask, out long rv)
    {
        rv = 0;
        int e = TimeoutFromTimespec(l, ts, out long ns);
        return e != 0 ? e : SelectCommon(l, nd, rin, rou, rex, ns, mask, out rv);
    }

    /// <summary>A timespec timeout in nanoseconds (-1 for NULL: no timeout); EINVAL if malformed.</summary>
    private static int TimeoutFromTimespec(Lwp l, UserPtr ts, out long ns)
    {
        ns = -1;
        if (ts.IsNull) return 0;
        int e = l.Proc.Vmspace.CopyIn(ts, out RumpTimespec t);
        if (e != 0) return e;
        if (t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000) return Abi.EINVAL;
        ns = t.tv_sec > long.MaxValue / 1_000_000_000 - 1 ? long.MaxValue / 2 : t.tv_sec * 1_000_000_000 + t.tv_nsec;
        return 0;
    }

    private static int PollCommon(Lwp l, UserPtr fds, uint nfds, long timeoutNs, UserPtr mask, out long rv)
    {
        rv = 0;
        if (nfds > Filedesc.MaxFiles) return Abi.EINVAL;
        RumpPollfd[]? big = nfds > 64 ? new RumpPollfd[nfds] : null;
        Span<RumpPollfd> pfd = big ?? stackalloc RumpPollfd[(int)nfds];
        Span<byte> raw = MemoryMarshal.AsBytes(pfd);
        int e = nfds == 0 ? 0 : l.Proc.Vmspace.CopyIn(fds, raw);
        if (e != 0) return e;
        e = Wait(l, timeoutNs, mask, pfd, default, 0, isSelect: false, out int n);
        if (e != 0) return e;
        rv = n;
        return nfds == 0 ? 0 : l.Proc.Vmspace.CopyOut(raw, fds);
    }

    private static int SelectCommon(Lwp l, int nd, UserPtr rin, UserPtr rou, UserPtr rex, long timeoutNs, UserPtr mask, out long rv)
    {
        rv = 0;
        if (nd < 0) return Abi.EINVAL;
        if (nd > Filedesc.MaxFiles) nd = Filedesc.MaxFiles;
        int words = (nd + Abi.NFDBITS - 1) / Abi.NFDBITS;
        // in, ou, ex and then the three result sets, words each.
        Span<uint> bits = stackalloc uint[6 * words];
        bits.Clear();
        UserPtr[] sets = { rin, rou, rex };
        for (int s = 0; s < 3; s++)
        {
            if (sets[s].IsNull || words == 0) continue;
            int e = l.Proc.Vmspace.CopyIn(sets[s], MemoryMarshal.AsBytes(bits.Slice(s * words, words)));
            if (e != 0) return e;
        }
        int err = Wait(l, timeoutNs, mask, default, bits, words, isSelect: true, out int n);
        if (err != 0) return err;
        for (int s = 0; s < 3; s++)
        {
            if (sets[s].IsNull || words == 0) continue;
            int e = l.Proc.Vmspace.CopyOut(MemoryMarshal.AsBytes(bits.Slice((3 + s) * words, words)), sets[s]);
            if (e != 0) return e;
        }
        rv = n;
        return 0;
    }

    /// <summary>
    /// The scan-and-sleep loop shared by poll and select (NetBSD sel_do_scan), with the signal
    /// mask of pollts/pselect in force meanwhile. Returns 0 with <paramref name="n"/> ready (0 on
    /// timeout), EINTR, or EBADF (select on a closed descriptor).
    /// </summary>
    private static int Wait(Lwp l, long timeoutNs, UserPtr mask, Span<RumpPollfd> pfd, Span<uint> bits, int words, bool isSelect, out int n)
    {
        n = 0;
        ulong oldMask = l.SigMask;
        if (!mask.IsNull)
        {
            int e = l.Proc.Vmspace.CopyIn(mask, out RumpSigset m);
            if (e != 0) return e;
            l.SigMask = m.Low64 & ~(Kernel.SigBit(Abi.SIGKILL) | Kernel.SigBit(Abi.SIGSTOP));
        }
        PollWaiter w = l.PollWaiter ??= new PollWaiter(l.Kernel);
        long deadline = timeoutNs < 0 ? -1 : Clock.MonotonicNs() + timeoutNs;
        try
        {
            while (true)
            {
                w.Arm();
                l.PollScan = w;
                int e = isSelect ? ScanSelect(l, bits, words, out n) : ScanPoll(l, pfd, out n);
                l.PollScan = null;
                if (e != 0) return e;
                if (n > 0 || timeoutNs == 0) return 0;
                e = w.Sleep(deadline);
                if (e == Abi.EWOULDBLOCK) return 0;
                if (e != 0) return e;
            }
        }
        finally
        {
            l.PollScan = null;
            w.Unrecord();
            l.SigMask = oldMask;
        }
    }

    private static int ScanPoll(Lwp l, Span<RumpPollfd> pfd, out int n)
    {
        n = 0;
        for (int i = 0; i < pfd.Length; i++)
        {
            ref RumpPollfd p = ref pfd[i];
            p.revents = 0;
            if (p.fd < 0) continue;
            File? f = l.Proc.Fd.Get(p.fd);
            if (f == null) p.revents = Abi.POLLNVAL;
            else
            {
                // Errors and hang-ups are reported whether asked for or not.
                p.revents = (short)f.Poll(l, (ushort)p.events | Abi.POLLERR | Abi.POLLHUP);
                f.Release(l);
            }
            if (p.revents != 0) n++;
        }
        return 0;
    }

    private static int ScanSelect(Lwp l, Span<uint> bits, int words, out int n)
    {
        n = 0;
        bits.Slice(3 * words).Clear();
        for (int s = 0; s < 3; s++)
        {
            Span<uint> ibits = bits.Slice(s * words, words), obits = bits.Slice((3 + s) * words, words);
            for (int wd = 0; wd < words; wd++)
            {
                uint m = ibits[wd];
                while (m != 0)
                {
                    int b = System.Numerics.BitOperations.TrailingZeroCount(m);
                    m &= m - 1;
                    int fd = wd * Abi.NFDBITS + b;
                    File? f = l.Proc.Fd.Get(fd);
                    if (f == null) return Abi.EBADF;
                    int r = f.Poll(l, SelFlag[s]);
                    f.Release(l);
                    if (r != 0) { obits[wd] |= 1u << b; n++; }
                }
            }
        }
        return 0;
    }
}
