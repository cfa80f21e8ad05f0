using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// fsu probe: the file system type judged from the superblock, without mounting. A partitioned
/// image with no @PART lists each partition's type ("a: msdos").
/// </summary>
internal static class ProbeCommand
{
    /// <summary>A superblock no probe claims: the first type that mounts it read-only (as mount(8) without -t).</summary>
    private static string? MountProbe(RumpKernel k, string fspec)
    {
        int e = k.Mkdir(ImageSession.MountPoint, 0x1ed);
        if (e < 0 && e != -Abi.EEXIST) return null;
        foreach (string t in ImageSession.DiskTypes(k))
            if (k.MountAs(t, fspec, ImageSession.MountPoint, Abi.MNT_RDONLY) == 0)
            {
                k.Unmount(ImageSession.MountPoint);
                return t;
            }
        return null;
    }

    public static int Run(Context ctx, Args a)
    {
        RumpKernel? k = ImageSession.Attach(ctx, out string fspec);
        if (k == null) return Fsu.Failed;
        try
        {
            int e = k.DetectFsType(fspec, out string? fstype, out string? why);
            if (e == 0 || (fstype = MountProbe(k, fspec)) != null) { ctx.Out.WriteLine(fstype); return Fsu.Ok; }
            var parts = fspec == ImageSession.DevKey ? ImageSession.Partitions(k) : new();
            if (parts.Count == 0) return ctx.FailHost(ctx.ImageSpec, "unknown file system: " + (why ?? Errno.Message(-e)));
            foreach (char p in parts)
            {
                int pe = k.DetectFsType(ImageSession.DevKey + p, out string? pt, out string? pwhy);
                if (pe != 0) pt = MountProbe(k, ImageSession.DevKey + p);
                ctx.Out.WriteLine(p + ": " + (pt ?? "unknown (" + pwhy + ")"));
            }
            return Fsu.Ok;
        }
        finally
        {
            k.Unmount(ImageSession.MountPoint);
            k.EtfsRemove(ImageSession.DevKey);
            ImageSession.Detach(k);
        }
    }
}
