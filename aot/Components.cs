using Rump.Kern;

namespace Rump;

/// <summary>
/// The components linked into this build of the library (NetBSD picks them at link time too).
/// RumpComponents in Rump.csproj decides which of the #if blocks exist.
/// </summary>
public static class Components
{
    public static IComponent[] Linked()
    {
        var list = new System.Collections.Generic.List<IComponent>(4);
#if RUMP_DEV
        // First, so that it shuts down last: file systems on devices go before the devices.
        list.Add(new Rump.Dev.DevComponent());
#endif
#if RUMP_VFS
        list.Add(new Rump.Vfs.VfsComponent());
#endif
#if RUMP_TMPFS
        list.Add(new Rump.Fs.Tmpfs.TmpfsComponent());
#endif
#if RUMP_MSDOSFS
        list.Add(new Rump.Fs.Msdosfs.MsdosfsComponent());
#endif
#if RUMP_EXT2FS
        list.Add(new Rump.Fs.Ext2fs.Ext2fsComponent());
#endif
#if RUMP_CD9660
        list.Add(new Rump.Fs.Cd9660.Cd9660Component());
#endif
#if RUMP_NET
        list.Add(new Rump.Net.NetComponent());
        list.Add(new Rump.Net.Virtif.VirtifComponent());
        // Host sockets behind AF_INET/AF_INET6, only when the boot parameter RUMP_SOCKIN asks for them.
        list.Add(new Rump.Net.Sockin.SockinComponent());
#endif
#if RUMP_SHMIF
        list.Add(new Rump.Net.Shmif.ShmifComponent());
#endif
#if RUMP_USB
        list.Add(new Rump.Usb.UsbComponent());
#endif
        return list.ToArray();
    }
}
