using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A character device driver's entry points (NetBSD struct cdevsw). The device number tells the
/// driver which of its devices is meant (<see cref="Cdevsw.Minor"/>). The defaults are NetBSD's:
/// nullopen/nullclose succeed; noread, nowrite and noioctl are ENODEV.
///
/// Context: thread context, in the calling process (its credentials, its vmspace behind the
/// <see cref="Uio"/>). Entry points may sleep. <see cref="Open"/> runs on every open(2);
/// <see cref="Close"/> only when the last open file of that device number closes (NetBSD's
/// spec_close). Once <see cref="Cdevsw.Detach"/> has returned, no entry point of the driver runs.
/// </summary>
public abstract class CharDevice
{
    /// <summary>d_open: <paramref name="fflag"/> holds FREAD/FWRITE and the open flags. ENXIO for a minor the driver does not have.</summary>
    public virtual int Open(ulong dev, int fflag, Lwp l) => 0;
    public virtual int Close(ulong dev, int fflag, Lwp l) => 0;
    /// <summary>d_read at <see cref="Uio.Offset"/>; <paramref name="ioflag"/> has <see cref="SpecFs.IoNdelay"/> for a non-blocking file.</summary>
    public virtual int Read(ulong dev, ref Uio uio, int ioflag, Lwp l) => Abi.ENODEV;
    public virtual int Write(ulong dev, ref Uio uio, int ioflag, Lwp l) => Abi.ENODEV;

    /// <summary>
    /// d_ioctl. <paramref name="data"/> is kernel memory, as NetBSD's sys_ioctl prepares it from the
    /// command's encoding: IOC_IN's bytes copied in, IOC_OUT's zeroed and copied out after success,
    /// and for IOC_VOID (or IOC_IN of size 0) the caller's argument itself as 8 bytes.
    /// </summary>
    public virtual int Ioctl(ulong dev, ulong cmd, Span<byte> data, int fflag, Lwp l) => Abi.ENODEV;

    /// <summary>
    /// d_poll (poll(2), select(2)): which of <paramref name="events"/> (Abi.POLL*) hold now. A
    /// device that is not ready records the caller on its <see cref="SelInfo"/> (selinfo.Record(l))
    /// and calls Notify when that changes. The default is NetBSD's seltrue: always ready.
    /// </summary>
    public virtual int Poll(ulong dev, int events, Lwp l) => events & (Abi.POLLIN | Abi.POLLOUT | Abi.POLLRDNORM | Abi.POLLWRNORM);
}

/// <summary>
/// The character-device switch (NetBSD cdevsw and devsw_attach): major numbers to drivers, beside
/// the block switch <see cref="Devsw"/>. A driver attaches under a name; a name NetBSD assigns a
/// major to (sys/conf/majors) gets that major, any other name the first free one from
/// <see cref="FirstDynamicMajor"/>, unless the caller asks for a fixed major. Device numbers use
/// NetBSD's amd64 encoding (<see cref="Devsw.MakeDev"/>, <see cref="Major"/>, <see cref="Minor"/>).
/// Built in: NetBSD's mem driver (/dev/null and /dev/zero, major 2) and rumpblk's raw side (197).
///
/// <see cref="_lock"/> protects the table, every entry's call count and gone flag, and the open
/// counts per device number. It is never held across a driver's entry point. Each call into a
/// driver holds a reference on its entry (<see cref="Acquire"/>/<see cref="Release"/>), and
/// <see cref="Detach"/> waits until the last one is dropped (NetBSD's devsw localcount drain).
/// </summary>
public sealed class Cdevsw
{
    /// <summary>devsw_attach's "any major".</summary>
    public const uint NoMajor = uint.MaxValue;
    /// <summary>Above NetBSD's highest assigned major (viocon, 364, in sys/conf/majors), where its dynamic allocation starts too.</summary>
    public const uint FirstDynamicMajor = 365;
    /// <summary>NetBSD's MAXDEVSW.</summary>
    public const uint MaxMajor = 512;

    /// <summary>Machine-independent majors of sys/conf/majors that drivers here may attach under.</summary>
    private static readonly (string name, uint major)[] KnownMajors =
    {
        ("mem", 2), ("drvctl", 167), ("dk", 168), ("tap", 169), ("rumpblk", 197), ("npf", 198),
    };

    internal sealed class Entry
    {
        public readonly string Name;
        public readonly uint Major;
        public readonly CharDevice Driver;
        /// <summary>Calls in progress (under the switch's lock).</summary>
        public int Active;
        public bool Gone;
        public Entry(string name, uint major, CharDevice drv) { Name = name; Major = major; Driver = drv; }
    }

    private readonly KMutex _lock;
    private readonly KCondvar _drained;
    private readonly Dictionary<uint, Entry> _byMajor = new();
    /// <summary>Open files per device number (NetBSD's sd_opencnt): the driver's close runs when it drops to zero.</summary>
    private readonly Dictionary<ulong, int> _opens = new();

    internal Cdevsw(Vfs vfs)
    {
        _lock = new KMutex(vfs.Kernel);
        _drained = new KCondvar(vfs.Kernel);
        uint m = NoMajor;
        Attach("mem", new MemDev(), ref m);
        m = NoMajor;
        Attach("rumpblk", new RumpblkRaw(vfs), ref m);
    }

    public static uint Major(ulong dev) => (uint)((dev & 0x000fff00) >> 8);
    public static uint Minor(ulong dev) => (uint)((dev & 0x000000ff) | ((dev & 0xfff00000) >> 12));

    /// <summary>
    /// devsw_attach for the character side: registers <paramref name="drv"/> as <paramref name="name"/>
    /// under <paramref name="major"/>, or, when that is <see cref="NoMajor"/>, under the name's
    /// NetBSD major or the first free dynamic one, which is returned in it. EEXIST if the name or
    /// major is taken, EINVAL for a major beyond NetBSD's table, ENOMEM when none is free.
    /// </summary>
    public int Attach(string name, CharDevice drv, ref uint major)
    {
        if (name.Length == 0) return Abi.EINVAL;
        _lock.Enter();
        try
        {
            foreach (Entry e in _byMajor.Values)
                if (e.Name == name || e.Driver == drv) return Abi.EEXIST;
            uint m = major;
            if (m == NoMajor)
                foreach (var (n, known) in KnownMajors)
                    if (n == name) { m = known; break; }
            if (m == NoMajor)
            {
                m = FirstDynamicMajor;
                while (m < MaxMajor && (_byMajor.ContainsKey(m) || IsKnown(m))) m++;
                if (m >= MaxMajor) return Abi.ENOMEM;
            }
            else if (m >= MaxMajor) return Abi.EINVAL;
            if (_byMajor.ContainsKey(m)) return Abi.EEXIST;
            _byMajor[m] = new Entry(name, m, drv);
            major = m;
            return 0;
        }
        finally { _lock.Exit(); }
    }

    private static bool IsKnown(uint m)
    {
        foreach (var (_, known) in KnownMajors) if (known == m) return true;
        return false;
    }

    /// <summary>
    /// devsw_detach: no new call reaches <paramref name="drv"/>, and this returns once the calls in
    /// progress have returned. Files still open on its devices get ENXIO from then on, and their
    /// close does not call the driver. Not from the driver's own entry points (it would wait for
    /// itself). ENOENT if it is not attached.
    /// </summary>
    public int Detach(CharDevice drv)
    {
        _lock.Enter();
        try
        {
            Entry? found = null;
            foreach (Entry e in _byMajor.Values) if (e.Driver == drv) { found = e; break; }
            if (found == null) return Abi.ENOENT;
            found.Gone = true;
            _byMajor.Remove(found.Major);
            while (found.Active > 0) _drained.Wait(_lock);
            return 0;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>The major a driver name is attached under, or <see cref="NoMajor"/>.</summary>
    public uint MajorOf(string name)
    {
        _lock.Enter();
        try
        {
            foreach (Entry e in _byMajor.Values) if (e.Name == name) return e.Major;
            return NoMajor;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>The driver's entry for <paramref name="dev"/> with a call reference taken, or null (ENXIO).</summary>
    internal Entry? Acquire(ulong dev)
    {
        _lock.Enter();
        _byMajor.TryGetValue(Major(dev), out Entry? e);
        if (e != null) e.Active++;
        _lock.Exit();
        return e;
    }

    /// <summary>A call reference on an entry already known (an open file's), unless it has been detached.</summary>
    internal bool Acquire(Entry e)
    {
        _lock.Enter();
        bool ok = !e.Gone;
        if (ok) e.Active++;
        _lock.Exit();
        return ok;
    }

    internal void Release(Entry e)
    {
        _lock.Enter();
        if (--e.Active == 0 && e.Gone) _drained.Broadcast();
        _lock.Exit();
    }

    /// <summary>One more (+1) or one fewer (-1) open file of <paramref name="dev"/>; the count after.</summary>
    internal int AdjustOpens(ulong dev, int delta)
    {
        _lock.Enter();
        _opens.TryGetValue(dev, out int n);
        n += delta;
        if (n <= 0) _opens.Remove(dev);
        else _opens[dev] = n;
        _lock.Exit();
        return n;
    }
}

/// <summary>The character switch of a kernel's VFS, made on first use (most kernels never open a device).</summary>
public sealed partial class Vfs
{
    private Cdevsw? _cdevsw;

    /// <summary>Character devices by major number (NetBSD cdevsw).</summary>
    public Cdevsw CharDevices
    {
        get
        {
            Cdevsw? c = Volatile.Read(ref _cdevsw);
            if (c != null) return c;
            Interlocked.CompareExchange(ref _cdevsw, new Cdevsw(this), null);
            return _cdevsw!;
        }
    }
}
