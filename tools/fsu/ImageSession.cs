using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Fsu;

/// <summary>
/// One image opened in a kernel of its own: the host file registered with etfs at
/// <see cref="DevKey"/> (its partitions at DevKey + 'a', ...), the chosen device mounted at
/// <see cref="MountPoint"/>. Paths given by the user are relative to the image's root.
/// </summary>
internal sealed unsafe partial class ImageSession
{
    public const string DevKey = "/dev/fsu0";
    public const string MountPoint = "/mnt";

    public readonly RumpKernel K;
    public readonly string FsType;
    private readonly Context _ctx;

    private ImageSession(RumpKernel k, string fstype, Context ctx) { K = k; FsType = fstype; _ctx = ctx; }

    /// <summary>Splits "disk.img@b" into the host file and the partition letter (a file named with '@' wins).</summary>
    public static (string file, char part) ParseSpec(string spec)
    {
        int at = spec.LastIndexOf('@');
        if (at > 0 && at == spec.Length - 2 && spec[^1] is >= 'a' and <= 'z' && !File.Exists(spec))
            return (spec.Substring(0, at), spec[^1]);
        return (spec, '\0');
    }

    /// <summary>Boots a kernel with the image registered (not mounted); prints the error and returns null on failure.</summary>
    public static RumpKernel? Attach(Context ctx, out string fspec)
    {
        var (file, part) = ParseSpec(ctx.ImageSpec);
        fspec = DevKey;
        if (file.StartsWith(UsbPrefix, StringComparison.Ordinal)) return AttachUsb(ctx, file.Substring(UsbPrefix.Length), part, out fspec);
        if (Directory.Exists(file)) { ctx.FailHost(file, "Is a directory"); return null; }
        if (!File.Exists(file)) { ctx.FailHost(file, "No such file or directory"); return null; }
        RumpKernel k = RumpKernel.Boot();
        ctx.Kernel = k;
        int e = k.EtfsRegister(DevKey, Path.GetFullPath(file), Abi.ETFS_BLK);
        if (e < 0) { ctx.FailHost(file, Errno.Message(-e)); Detach(k); return null; }
        if (part != '\0')
        {
            fspec = DevKey + part;
            if (k.Lstat(fspec, out _) < 0)
            {
                int n = Partitions(k).Count;
                ctx.FailHost(ctx.ImageSpec, n == 0 ? "no partition table (use the image without @)" : "no partition '" + part + "' (the image has " + n + ": a.." + (char)('a' + n - 1) + ")");
                k.EtfsRemove(DevKey);
                Detach(k);
                return null;
            }
        }
        return k;
    }

    /// <summary>"usb:VVVV:PPPP" or "usb:BUS.ADDR": a USB disk driven by the kernel's own USB stack.</summary>
    public const string UsbPrefix = "usb:";

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Boots a kernel whose USB stack attaches the host device <paramref name="sel"/> selects
    /// (RUMP_USB); its first SCSI disk is the image (/dev/sd0, partitions /dev/sd0a, ...).
    /// </summary>
    private static RumpKernel? AttachUsb(Context ctx, string sel, char part, out string fspec)
    {
        fspec = "/dev/sd0";
        int colon = sel.IndexOf(':'), dot = sel.IndexOf('.');
        bool ok = colon > 0 ? ushort.TryParse(sel.AsSpan(0, colon), System.Globalization.NumberStyles.HexNumber, null, out _) &&
                              ushort.TryParse(sel.AsSpan(colon + 1), System.Globalization.NumberStyles.HexNumber, null, out _)
                 : dot > 0 && byte.TryParse(sel.AsSpan(0, dot), out _) && byte.TryParse(sel.AsSpan(dot + 1), out _);
        if (!ok) { ctx.FailHost(ctx.ImageSpec, "a USB device is usb:VENDOR:PRODUCT (hex, as lsusb shows) or usb:BUS.ADDRESS"); return null; }
        // The kernel reads its boot parameters from the process environment (rumpuser_getparam).
        SetEnv("RUMP_USB", sel, 1);
        RumpKernel k = RumpKernel.Boot();
        ctx.Kernel = k;
        if (k.Lstat(fspec, out _) < 0)
        {
            string why = "no USB disk matched (is it plugged in, and is its /dev/bus/usb node readable?)";
            foreach (string line in k.Dmesg().Split('\n'))
                if (line.StartsWith("ugenhc:", StringComparison.Ordinal) || line.Contains("not configured") || line.Contains("problem"))
                    why += "; " + line;
            ctx.FailHost(ctx.ImageSpec, why);
            Detach(k);
            return null;
        }
        if (part != '\0')
        {
            fspec += part;
            if (k.Lstat(fspec, out _) < 0) { ctx.FailHost(ctx.ImageSpec, "no partition '" + part + "' on the USB disk"); Detach(k); return null; }
        }
        return k;
    }

    /// <summary>The partition letters etfs found on the image.</summary>
    public static List<char> Partitions(RumpKernel k)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        var parts = new List<char>();
        if (k.ReadDir("/dev", l) < 0) return parts;
        string key = DevKey.Substring("/dev/".Length);
        foreach (var (name, _, _) in l)
            if (name.Length == key.Length + 1 && name.StartsWith(key, StringComparison.Ordinal)) parts.Add(name[^1]);
        parts.Sort();
        return parts;
    }

    /// <summary>Leaves the kernel on this thread (tests run many tools on one thread).</summary>
    public static void Detach(RumpKernel k) => k.LwprocSwitch(null);

    /// <summary>Opens and mounts the image; on failure prints why and returns non-zero.</summary>
    public static int Open(Context ctx, bool writable, out ImageSession? session)
    {
        session = null;
        RumpKernel? k = Attach(ctx, out string fspec);
        if (k == null) return Abi.EINVAL;
        int e = k.Mkdir(MountPoint, 0x1ed);
        if (e < 0 && e != -Abi.EEXIST) { ctx.FailHost(ctx.ImageSpec, "mkdir " + MountPoint + ": " + Errno.Message(-e)); k.EtfsRemove(DevKey); Detach(k); return -e; }
        int flags = writable ? 0 : Abi.MNT_RDONLY;
        string? fstype = ctx.FsType, why = null;
        if (fstype != null) e = k.MountAs(fstype, fspec, MountPoint, flags);
        else
        {
            e = k.MountAuto(fspec, MountPoint, flags, out fstype, out why);
            if (fstype == null && e == -Abi.EFTYPE)
            {
                // A superblock no probe claims: try each disk file system as mount(8) does without -t.
                string? rofs = null;
                foreach (string t in DiskTypes(k))
                {
                    int me = k.MountAs(t, fspec, MountPoint, flags);
                    if (me == 0) { fstype = t; e = 0; break; }
                    if (me == -Abi.EROFS && writable && k.MountAs(t, fspec, MountPoint, Abi.MNT_RDONLY) == 0)
                    {
                        k.Unmount(MountPoint);
                        rofs = t;
                    }
                }
                if (e != 0 && rofs != null) { fstype = rofs; e = -Abi.EROFS; }
            }
        }
        if (e < 0)
        {
            if (fstype == null)
                ctx.FailHost(ctx.ImageSpec, "unknown file system: " + (why ?? Errno.Message(-e)));
            else
                ctx.FailHost(ctx.ImageSpec, "cannot mount " + fstype + (writable ? " read-write" : "") + ": " + Errno.Message(-e));
            k.EtfsRemove(DevKey);
            Detach(k);
            return -e;
        }
        session = new ImageSession(k, fstype!, ctx);
        return 0;
    }

    /// <summary>The file systems linked in that live on devices (all but the memory ones).</summary>
    public static List<string> DiskTypes(RumpKernel k)
    {
        var l = new List<string>();
        foreach (string t in k.Kernel.GetService<Rump.Vfs.Vfs>()?.FsTypes ?? Array.Empty<string>())
            if (t is not ("rumpfs" or "tmpfs")) l.Add(t);
        return l;
    }

    /// <summary>Unmounts (writing everything back) and removes the device; 0 or an errno.</summary>
    public int Close()
    {
        int e = K.Unmount(MountPoint);
        if (e == 0) K.EtfsRemove(DevKey);
        Detach(K);
        return -e;
    }

    /// <summary>The kernel path of a path in the image ("a/b", "/a/b" and "a//b/" are the same).</summary>
    public static string KPath(string imagePath)
    {
        var sb = new StringBuilder(MountPoint);
        foreach (string part in imagePath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            sb.Append('/').Append(part);
        }
        return sb.ToString();
    }

    /// <summary>The last component of an image path ("" for the root).</summary>
    public static string BaseName(string imagePath)
    {
        string t = imagePath.TrimEnd('/');
        int i = t.LastIndexOf('/');
        return i < 0 ? t : t.Substring(i + 1);
    }

    /// <summary>"dir" + "name" as the user would write it.</summary>
    public static string Join(string dir, string name) => dir.EndsWith('/') ? dir + name : dir + "/" + name;

    public int Lstat(string kpath, out RumpStat st) => K.Lstat(kpath, out st);

    /// <summary>
    /// Why a name from a directory cannot be used as one path component (null if it can): a
    /// damaged image can hold '/' or NUL in a name, and "../.." would lead a copy out of its
    /// destination.
    /// </summary>
    public static string? BadName(string name)
    {
        if (name.Length == 0 || name == "." || name == "..") return "invalid name in the directory (skipped)";
        if (name.Contains('/')) return "name contains '/' (skipped)";
        if (name.Contains('\0')) return "name contains a NUL byte (skipped)";
        return null;
    }

    /// <summary>A path for a message: control characters (a NUL from a damaged name) shown as \xNN.</summary>
    public static string Printable(string s)
    {
        bool plain = true;
        foreach (char c in s) if (char.IsControl(c)) { plain = false; break; }
        if (plain) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
            if (char.IsControl(c)) sb.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        return sb.ToString();
    }

    /// <summary>The names in a directory without "." and "..", sorted by byte order; 0 or -errno.</summary>
    public int List(string kpath, out List<string> names)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        names = new List<string>();
        int e = K.ReadDir(kpath, l);
        if (e < 0) return e;
        foreach (var (n, _, _) in l) if (n != "." && n != "..") names.Add(n);
        names.Sort(StringComparer.Ordinal);
        return 0;
    }

    /// <summary>utimensat(AT_FDCWD, path, {atime, mtime}, AT_SYMLINK_NOFOLLOW); 0 or -errno.</summary>
    public int SetTimes(string kpath, RumpTimespec atime, RumpTimespec mtime)
    {
        RumpTimespec* ts = stackalloc RumpTimespec[2];
        ts[0] = atime; ts[1] = mtime;
        fixed (byte* p = Encoding.UTF8.GetBytes(kpath + "\0"))
            return (int)K.Syscall(SysNum.utimensat, [Abi.AT_FDCWD, (long)p, (long)ts, Abi.AT_SYMLINK_NOFOLLOW]);
    }

    public static bool IsDir(in RumpStat st) => (st.st_mode & Abi.S_IFMT) == Abi.S_IFDIR;
    public static bool IsLink(in RumpStat st) => (st.st_mode & Abi.S_IFMT) == Abi.S_IFLNK;
    public static bool IsReg(in RumpStat st) => (st.st_mode & Abi.S_IFMT) == Abi.S_IFREG;

    /// <summary>A kernel time as a UTC DateTime, or null when DateTime cannot hold it (a damaged inode).</summary>
    public static DateTime? ToDateTime(RumpTimespec t)
    {
        long maxSec = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerSecond - 1;
        long minSec = -DateTime.UnixEpoch.Ticks / TimeSpan.TicksPerSecond + 1;
        if (t.tv_sec > maxSec || t.tv_sec < minSec || t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000) return null;
        return DateTime.UnixEpoch.AddTicks(t.tv_sec * TimeSpan.TicksPerSecond + t.tv_nsec / 100);
    }

    public static RumpTimespec ToTimespec(DateTime utc)
    {
        long ticks = utc.Ticks - DateTime.UnixEpoch.Ticks;
        long sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        if (rem < 0) { sec--; rem += TimeSpan.TicksPerSecond; }
        return new RumpTimespec { tv_sec = sec, tv_nsec = rem * 100 };
    }
}
