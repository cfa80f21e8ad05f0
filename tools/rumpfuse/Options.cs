using System;
using System.Collections.Generic;
using System.Globalization;

namespace Rump.Fuse;

/// <summary>rumpfuse's command line: NetBSD-style flags and FUSE's usual -o options.</summary>
internal sealed class Options
{
    public string? Image;
    public string? MountPoint;
    public string? FsType;
    public bool Foreground, Debug, ReadOnly, AllowOther, DefaultPermissions, Readdirplus, Help;
    public uint? Uid, Gid, Umask;
    public string? FsName, Subtype;

    public const string Usage = "usage: rumpfuse [-dfh] [-t type] [-o option[,option...]] image[@partition] mountpoint";

    public const string HelpText = """
NAME
     rumpfuse -- serve a disk image's file system to the host through FUSE

SYNOPSIS
     rumpfuse [-dfh] [-t type] [-o option[,option...]] image[@partition] mountpoint

DESCRIPTION
     rumpfuse boots a rump kernel inside its own unprivileged process, mounts the file system
     of image with the kernel's own driver, and serves it at mountpoint through FUSE. The host
     kernel never parses the image: a damaged or hostile image can at worst end rumpfuse.

     image is a host file or block device; image@a, image@b, ... name the partitions of an MBR
     or GPT partition table on it. Without -t the type is probed from the superblock (FAT,
     ext2/3/4, ISO 9660). Every request runs in the kernel with the requesting process's user,
     group and supplementary groups, so the kernel's own permission checks decide.

     A file system the kernel only reads (ISO 9660, ext3/ext4) is served read-only.

     rumpfuse returns once the file system is mounted and goes on serving it in the background.
     "fusermount3 -u mountpoint", SIGTERM, SIGINT or SIGHUP unmount it: the kernel writes
     everything back to the image (the image is clean for fsck) and rumpfuse exits 0.

OPTIONS
     -d          Debug: libfuse prints every request; implies -f.
     -f          Foreground: do not detach.
     -h, --help  This text.
     -t type     The file system type: msdos, ext2fs, cd9660.
     -o options  A comma-separated list of:
          ro                   mount read-only (the image is opened for reading only)
          rw                   read-write (the default where the file system supports it)
          allow_other          let other users use the mount (needs user_allow_other in
                               /etc/fuse.conf unless run as root)
          default_permissions  let the host kernel check permissions as well
          uid=N, gid=N         owner and group of every file (msdos, which stores none;
                               default: the user running rumpfuse)
          umask=NNN            permission bits taken away from every file (msdos; octal;
                               default 022)
          fsname=NAME          the source shown by mount(8) (default: the image path)
          subtype=NAME         the type shown as fuse.NAME (default: rumpfs.TYPE)
          readdirplus          list directories with each entry's attributes (READDIRPLUS):
                               ls -l of a large tree is faster, find and other walks that
                               need no attributes are slower (the default: plain READDIR)

EXIT STATUS
     0 once the file system is mounted (and, in the foreground, once it is unmounted cleanly);
     1 on a usage error, an image that cannot be mounted, or a kernel panic.

EXAMPLES
     rumpfuse disk.img@a ~/mnt
     rumpfuse -t ext2fs -o ro,allow_other sd.img /media/sd
     fusermount3 -u ~/mnt

SEE ALSO
     fsu(1), fusermount3(1), mount.fuse3(8)
""";

    /// <summary>Parses <paramref name="args"/>; null and a message on an error.</summary>
    public static Options? Parse(string[] args, out string? error)
    {
        error = null;
        var o = new Options();
        var pos = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--help" || a == "-h") { o.Help = true; continue; }
            if (a == "--") { for (i++; i < args.Length; i++) pos.Add(args[i]); break; }
            if (a.Length > 1 && a[0] == '-')
            {
                for (int j = 1; j < a.Length; j++)
                {
                    char c = a[j];
                    switch (c)
                    {
                        case 'd': o.Debug = true; o.Foreground = true; break;
                        case 'f': o.Foreground = true; break;
                        case 'h': o.Help = true; break;
                        case 't':
                        case 'o':
                            string val;
                            if (j + 1 < a.Length) val = a.Substring(j + 1);
                            else if (i + 1 < args.Length) val = args[++i];
                            else { error = "option requires an argument -- " + c; return null; }
                            if (c == 't') o.FsType = val;
                            else if (!o.AddOptions(val, out error)) return null;
                            j = a.Length;
                            break;
                        default:
                            error = "unknown option -- " + c;
                            return null;
                    }
                }
                continue;
            }
            pos.Add(a);
        }
        if (o.Help) return o;
        if (pos.Count != 2) { error = pos.Count < 2 ? "an image and a mount point are needed" : "too many arguments"; return null; }
        o.Image = pos[0];
        o.MountPoint = pos[1];
        return o;
    }

    private bool AddOptions(string list, out string? error)
    {
        error = null;
        foreach (string opt in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = opt.IndexOf('=');
            string key = eq < 0 ? opt : opt.Substring(0, eq);
            string? val = eq < 0 ? null : opt.Substring(eq + 1);
            switch (key)
            {
                case "ro": ReadOnly = true; break;
                case "rw": ReadOnly = false; break;
                case "allow_other": AllowOther = true; break;
                case "default_permissions": DefaultPermissions = true; break;
                case "readdirplus": Readdirplus = true; break;
                case "uid": if (!Number(val, 10, out uint u)) { error = "uid= needs a number"; return false; } Uid = u; break;
                case "gid": if (!Number(val, 10, out uint g)) { error = "gid= needs a number"; return false; } Gid = g; break;
                case "umask": if (!Number(val, 8, out uint m) || m > 0x1ff) { error = "umask= needs an octal mask (at most 777)"; return false; } Umask = m; break;
                case "fsname": if (string.IsNullOrEmpty(val) || val.Contains(',')) { error = "fsname= needs a name without commas"; return false; } FsName = val; break;
                case "subtype": if (string.IsNullOrEmpty(val) || val.Contains(',')) { error = "subtype= needs a name without commas"; return false; } Subtype = val; break;
                default: error = "unknown mount option '" + opt + "'"; return false;
            }
        }
        return true;
    }

    private static bool Number(string? s, int radix, out uint v)
    {
        v = 0;
        if (string.IsNullOrEmpty(s)) return false;
        if (radix == 10) return uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        try { v = Convert.ToUInt32(s, 8); return true; }
        catch (FormatException) { return false; }
        catch (OverflowException) { return false; }
    }
}
