using System;
using System.IO;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// The vnode layer a server calls without system calls: VFS_VGET gives the very vnode a path
/// lookup gives (cached, or loaded again by number after a reclaim), vn_rdwr moves kernel buffers,
/// and every operation is done for the credential the request names, not the calling lwp's.
/// </summary>
public class VnodeLayerTests : KernelTest
{
    private static Vnode Lookup(RumpKernel k, string path) => VnodeCacheTests.Lookup(k, path);
    private static void Release(RumpKernel k, Vnode vp) => VnodeCacheTests.Release(k, vp);

    private static int Vget(RumpKernel k, Mount mp, ulong ino, out Vnode? vp)
    {
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "server");
        return VnodeLayer.Vget(ctx.Lwp, mp, ino, out vp);
    }

    private static ulong Fileid(RumpKernel k, Vnode vp)
    {
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "server");
        Assert.That(VnodeLayer.Getattr(ctx.Lwp, vp, out Vattr va), Is.EqualTo(0));
        return va.Fileid;
    }

    private static byte[] ReadVnode(RumpKernel k, Vnode vp, int max = 4096)
    {
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "server");
        var buf = new byte[max];
        Assert.That(VnodeLayer.Rdwr(ctx.Lwp, write: false, vp, buf, 0, 0, ctx.Lwp.Cred, out long resid), Is.EqualTo(0), "vn_rdwr read");
        return buf.AsSpan(0, max - (int)resid).ToArray();
    }

    [TestCase("tmpfs")]
    [TestCase("ext2fs")]
    [TestCase("msdos")]
    [TestCase("cd9660")]
    public void Vget_GivesTheVnodeAPathLookupGives_CachedOrLoadedAgain(string fstype)
    {
        string src = FsImages.MakeTree(HostWork, 2, 5);
        RumpKernel k = Boot();
        FsImages.MountTree(k, fstype, src, HostWork);
        Vfs.Vfs vfs = k.Kernel.GetService<Vfs.Vfs>()!;
        Vnode root = Lookup(k, "/mnt");
        Mount mp = root.Mount;
        Release(k, root);

        foreach (string p in new[] { "/mnt", "/mnt/d1", "/mnt/d1/f003" })
        {
            ulong ino = StatOk(k, p).st_ino;
            Vnode v = Lookup(k, p);
            Assert.That(Vget(k, mp, ino, out Vnode? w), Is.EqualTo(0), fstype + ": VFS_VGET of " + p + " (ino " + ino + ")");
            Assert.That(w, Is.SameAs(v), fstype + ": VFS_VGET of " + p + " while it is referenced");
            Release(k, w!);
            Release(k, v);
            // Unreferenced but cached: still the same vnode.
            Assert.That(Vget(k, mp, ino, out w), Is.EqualTo(0));
            Assert.That(w, Is.SameAs(v), fstype + ": VFS_VGET of " + p + " while it is cached");
            Assert.That(Fileid(k, w!), Is.EqualTo(ino), "st_ino of the vnode VFS_VGET gives");
            Release(k, w!);
        }

        // Reclaimed: VFS_VGET loads the file again by its number alone. (A server holds the
        // directories it looked up, as a FUSE server holds the nodes the kernel has not forgotten.)
        Vnode dir = Lookup(k, "/mnt/d1");
        ulong fino = StatOk(k, "/mnt/d1/f003").st_ino;
        Vnode old = Lookup(k, "/mnt/d1/f003");
        Release(k, old);
        vfs.Vcache.MaxFree = 0;
        Assert.That(k.Stat("/mnt/d0/f000", out _), Is.EqualTo(0), "a lookup whose release trims the cache");
        Assert.That(old.State, Is.EqualTo(VState.Reclaimed), "the file's vnode was reclaimed");
        Assert.That(Vget(k, mp, fino, out Vnode? fresh), Is.EqualTo(0), fstype + ": VFS_VGET after the reclaim");
        Assert.That(fresh, Is.Not.SameAs(old));
        Assert.That(Fileid(k, fresh!), Is.EqualTo(fino), "the same file");
        Assert.That(ReadVnode(k, fresh!), Is.EqualTo(FsImages.Content(1, 3)), "its contents through vn_rdwr");
        Vnode again = Lookup(k, "/mnt/d1/f003");
        Assert.That(again, Is.SameAs(fresh), "a path lookup now gives the vnode VFS_VGET loaded");
        Release(k, again);
        Release(k, fresh!);
        Release(k, dir);

        Assert.That(Vget(k, mp, 0x7fff_fff0, out Vnode? none), Is.Not.EqualTo(0), "a number that names no file");
        Assert.That(none, Is.Null);
    }

    [Test]
    public void Rdwr_MovesKernelBuffersAtAnOffset()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "0123456789");
        Assert.That(k.Mkdir("/d", 0x1ed), Is.EqualTo(0));
        Vnode f = Lookup(k, "/f");
        Vnode d = Lookup(k, "/d");
        using (var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "server"))
        {
            Lwp l = ctx.Lwp;
            Assert.That(VnodeLayer.Rdwr(l, write: true, f, "abc"u8.ToArray(), 4, 0, l.Cred, out long resid), Is.EqualTo(0));
            Assert.That(resid, Is.EqualTo(0));
            var buf = new byte[16];
            Assert.That(VnodeLayer.Rdwr(l, write: false, f, buf, 2, 0, l.Cred, out resid), Is.EqualTo(0));
            Assert.That(Encoding.ASCII.GetString(buf, 0, 16 - (int)resid), Is.EqualTo("23abc789"), "read at offset 2 after writing at 4");
            Assert.That(VnodeLayer.Rdwr(l, write: false, d, buf, 0, 0, l.Cred, out _), Is.EqualTo(Abi.EISDIR));
        }
        Release(k, f);
        Release(k, d);
        Assert.That(ReadFile(k, "/f"), Is.EqualTo("0123abc789"));
    }

    [Test]
    public void EachRequestsCredential_IsTheOneChecked_NotTheCallers()
    {
        RumpKernel k = Boot();
        // As root: a private directory, a public one, a sticky one with another user's file.
        Assert.That(k.Mkdir("/p", 0x1c0), Is.EqualTo(0));                          // 0700
        WriteFile(k, "/p/secret", "s", 0x180);                                     // 0600
        Assert.That(k.Mkdir("/pub", 0x1ff), Is.EqualTo(0));
        Assert.That(k.Chmod("/pub", 0x1ff), Is.EqualTo(0));                         // 0777
        Assert.That(k.Mkdir("/sticky", 0x3ff), Is.EqualTo(0));
        Assert.That(k.Chmod("/sticky", 0x3ff), Is.EqualTo(0));                      // 01777
        WriteFile(k, "/sticky/theirs", "t");
        Assert.That(k.Chown("/sticky/theirs", 2000, 2000), Is.EqualTo(0));
        WriteFile(k, "/rootfile", "r");

        Cred user = Cred.Make(1000, 1000);
        Cred other = Cred.Make(2000, 2000);
        Vnode rootDir = Lookup(k, "/"), p = Lookup(k, "/p"), pub = Lookup(k, "/pub"), sticky = Lookup(k, "/sticky"), rootfile = Lookup(k, "/rootfile");
        using (var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "server"))
        {
            Lwp l = ctx.Lwp;
            Assert.That(l.Cred.IsRoot, Is.True, "the server itself runs as root");

            Assert.That(VnodeLayer.Lookup(l, user, p, "secret", out Vnode? vp), Is.EqualTo(Abi.EACCES), "lookup in a 0700 directory for uid 1000");
            Assert.That(VnodeLayer.Lookup(l, l.Cred, p, "secret", out vp), Is.EqualTo(0), "the same lookup for root");
            vp!.Rele();

            Span<char> s = stackalloc char[Namei.PathMax];
            var pb = new PathBuf(s);
            Assert.That(pb.Set("/p/secret"), Is.EqualTo(0));
            Assert.That(VnodeLayer.Open(l, user, Abi.AT_FDCWD, pb, VnodeLayer.FFlags(Abi.O_RDONLY), 0, out vp), Is.EqualTo(Abi.EACCES), "vn_open for uid 1000");
            Assert.That(VnodeLayer.OpenVnode(l, user, rootfile, VnodeLayer.FFlags(Abi.O_RDWR)), Is.EqualTo(Abi.EACCES), "opening root's 0644 file for writing as uid 1000");

            Assert.That(VnodeLayer.Create(l, user, rootDir, "mine", VType.VREG, 0x1a4, 0, out vp), Is.EqualTo(Abi.EACCES), "creating in root's 0755 directory as uid 1000");
            Assert.That(VnodeLayer.Create(l, user, pub, "mine", VType.VREG, 0x1a4, 0, out vp), Is.EqualTo(0), "creating in a 0777 directory as uid 1000");
            Assert.That(VnodeLayer.Getattr(l, vp!, out Vattr va), Is.EqualTo(0));
            Assert.That(va.Uid, Is.EqualTo(1000), "the new file belongs to the request's user, not to the (root) server");
            Assert.That(VnodeLayer.Chmod(l, user, vp!, 0x180), Is.EqualTo(0), "the owner may chmod it");
            vp!.Rele();

            Assert.That(VnodeLayer.Chmod(l, user, rootfile, 0x1ff), Is.EqualTo(Abi.EPERM), "chmod of root's file as uid 1000");
            Assert.That(VnodeLayer.Chown(l, user, rootfile, 1000, uint.MaxValue), Is.EqualTo(Abi.EPERM), "chown of root's file as uid 1000");

            Assert.That(VnodeLayer.Lookup(l, user, sticky, "theirs", out vp), Is.EqualTo(0));
            Assert.That(VnodeLayer.Remove(l, user, sticky, "theirs", vp!, dir: false), Is.EqualTo(Abi.EPERM), "removing another user's file from a sticky directory");
            Assert.That(VnodeLayer.Remove(l, other, sticky, "theirs", vp!, dir: false), Is.EqualTo(0), "its owner may");
            vp!.Rele();
        }
        foreach (Vnode v in new[] { rootDir, p, pub, sticky, rootfile }) Release(k, v);

        // The other way round: an ordinary user's lwp acting for root.
        Lwp ul = BecomeUser(k, 1000, 1000);
        Vnode root2 = Lookup(k, "/");
        using (var ctx = k.Kernel.EnterTemporary(ul.Proc, "server"))
        {
            Assert.That(ctx.Lwp.Cred.Euid, Is.EqualTo(1000));
            Assert.That(VnodeLayer.Create(ctx.Lwp, Cred.Root, root2, "byroot", VType.VREG, 0x1a4, 0, out Vnode? vp), Is.EqualTo(0), "creating in / for root from uid 1000's lwp");
            Assert.That(VnodeLayer.Getattr(ctx.Lwp, vp!, out Vattr va), Is.EqualTo(0));
            Assert.That(va.Uid, Is.EqualTo(0));
            vp!.Rele();
        }
        Release(k, root2);
        BecomeRoot(k);
        Assert.That(StatOk(k, "/byroot").st_uid, Is.EqualTo(0));
    }
}
