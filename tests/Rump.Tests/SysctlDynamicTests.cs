using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Dynamic sysctl nodes (NetBSD sysctl_createv/sysctl_destroyv): made and removed by kernel code
/// through the managed API, read and written through __sysctl(2) by MIB and by a name resolved
/// with CTL_QUERY as NetBSD's sysctlnametomib does, and made and removed by root through
/// CTL_CREATE and CTL_DESTROY.
/// </summary>
public unsafe class SysctlDynamicTests : KernelTest
{
    private static long Sysctl(RumpKernel k, ReadOnlySpan<int> mib, void* oldp, ulong* oldlenp, void* newp, ulong newlen)
    {
        fixed (int* m = mib)
            return k.Syscall(SysNum.__sysctl, [(long)m, mib.Length, (long)oldp, (long)oldlenp, (long)newp, (long)newlen]);
    }

    private static long ReadInt(RumpKernel k, ReadOnlySpan<int> mib, out int v)
    {
        int x = 0;
        ulong len = sizeof(int);
        long r = Sysctl(k, mib, &x, &len, null, 0);
        v = x;
        if (r == 0) Assert.That(len, Is.EqualTo((ulong)sizeof(int)), "an int node's length");
        return r;
    }

    private static long WriteInt(RumpKernel k, ReadOnlySpan<int> mib, int v) => Sysctl(k, mib, null, null, &v, sizeof(int));

    private static long ReadQuad(RumpKernel k, ReadOnlySpan<int> mib, out long v)
    {
        long x = 0;
        ulong len = sizeof(long);
        long r = Sysctl(k, mib, &x, &len, null, 0);
        v = x;
        return r;
    }

    private static RumpSysctlnode QueryNode(int flagsVersion = Abi.SYSCTL_VERSION) => new() { sysctl_flags = (uint)flagsVersion };

    /// <summary>CTL_QUERY on <paramref name="parent"/>: the children as struct sysctlnode.</summary>
    private static List<RumpSysctlnode> Query(RumpKernel k, ReadOnlySpan<int> parent)
    {
        Span<int> mib = stackalloc int[parent.Length + 1];
        parent.CopyTo(mib);
        mib[parent.Length] = Abi.CTL_QUERY;
        RumpSysctlnode q = QueryNode();
        ulong len = 0;
        long r = Sysctl(k, mib, null, &len, &q, (ulong)sizeof(RumpSysctlnode));
        Assert.That(r, Is.EqualTo(0), "CTL_QUERY size");
        Assert.That(len % (ulong)sizeof(RumpSysctlnode), Is.EqualTo(0UL), "CTL_QUERY returns whole nodes");
        var nodes = new RumpSysctlnode[len / (ulong)sizeof(RumpSysctlnode)];
        fixed (RumpSysctlnode* p = nodes) r = Sysctl(k, mib, p, &len, &q, (ulong)sizeof(RumpSysctlnode));
        Assert.That(r, Is.EqualTo(0), "CTL_QUERY");
        return new List<RumpSysctlnode>(nodes);
    }

    private static string NameOf(in RumpSysctlnode n)
    {
        fixed (byte* p = n.sysctl_name) return Marshal.PtrToStringAnsi((nint)p)!;
    }

    /// <summary>NetBSD sysctlnametomib: resolves each dotted component with CTL_QUERY on the MIB so far.</summary>
    private static int[]? NameToMib(RumpKernel k, string dotted)
    {
        var mib = new List<int>();
        foreach (string part in dotted.Split('.'))
        {
            bool found = false;
            foreach (RumpSysctlnode n in Query(k, mib.ToArray()))
                if (NameOf(n) == part) { mib.Add(n.sysctl_num); found = true; break; }
            if (!found) return null;
        }
        return mib.ToArray();
    }

    [Test]
    public void CreateReadWriteDestroyThroughTheManagedApi()
    {
        RumpKernel k = Boot();
        Sysctl s = k.Kernel.Sysctl;
        Assert.That(s.CreateNode(null, "rumptest", out Sysctl.Node? dir), Is.EqualTo(0));
        Assert.That(dir!.Num, Is.GreaterThan(Rump.Kern.Sysctl.CreateBase), "CTL_CREATE numbers start above CREATE_BASE");
        Assert.That(s.CreateInt(dir, "answer", 42, out Sysctl.Node? leaf, flags: Abi.CTLFLAG_READWRITE), Is.EqualTo(0));
        Assert.That(s.GetInt(leaf!), Is.EqualTo(42));
        Assert.That(s.FindByName("rumptest.answer"), Is.SameAs(leaf));
        int[] mib = s.MibOf(leaf!)!;
        Assert.That(mib, Is.EqualTo(new[] { dir.Num, leaf!.Num }));

        Assert.That(ReadInt(k, mib, out int v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(42), "read by MIB");
        Assert.That(WriteInt(k, mib, 43), Is.EqualTo(0), "write by MIB as root");
        Assert.That(s.GetInt(leaf), Is.EqualTo(43), "the kernel sees the written value");
        s.SetInt(leaf, 44);
        Assert.That(ReadInt(k, mib, out v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(44), "the owner's update is what readers see");

        // Managed sysctl(3) with the same rules.
        Span<byte> old = stackalloc byte[4];
        Assert.That(s.Lookup(null, leaf, old, out int oldLen, BitConverter.GetBytes(45)), Is.EqualTo(0));
        Assert.That(oldLen, Is.EqualTo(4));
        Assert.That(BitConverter.ToInt32(old), Is.EqualTo(44), "Lookup returns the old value");
        Assert.That(s.GetInt(leaf), Is.EqualTo(45));

        Assert.That(s.Destroy(dir), Is.EqualTo(Abi.ENOTEMPTY), "a directory with children");
        Assert.That(s.Destroy(leaf), Is.EqualTo(0));
        Assert.That(ReadInt(k, mib, out _), Is.EqualTo(-Abi.ENOENT), "a destroyed node by MIB");
        Assert.That(s.Destroy(leaf), Is.EqualTo(Abi.ENOENT), "destroying twice");
        Assert.That(s.Destroy(dir), Is.EqualTo(0));
        Assert.That(s.FindByName("rumptest"), Is.Null);
    }

    [Test]
    public void HandlersComputeAndCheckValues()
    {
        RumpKernel k = Boot();
        Sysctl s = k.Kernel.Sysctl;
        long counter = 7;
        Assert.That(s.CreateQuad(s.Hw, "counter", 0, out Sysctl.Node? q, read: () => counter), Is.EqualTo(0));
        int[] mib = s.MibOf(q!)!;
        Assert.That(ReadQuad(k, mib, out long v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(7));
        counter = 1L << 40;
        Assert.That(ReadQuad(k, mib, out v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(1L << 40), "read live from the subsystem");
        Assert.That(Sysctl(k, mib, null, null, &v, sizeof(long)), Is.EqualTo(-Abi.EPERM), "a read-only node");

        int applied = 0;
        Assert.That(s.CreateInt(s.Hw, "limit", 10, out Sysctl.Node? lim, flags: Abi.CTLFLAG_READWRITE,
            write: x => x < 0 ? Abi.EINVAL : (applied = (int)x) * 0), Is.EqualTo(0));
        mib = s.MibOf(lim!)!;
        Assert.That(WriteInt(k, mib, -5), Is.EqualTo(-Abi.EINVAL), "the write handler refuses");
        Assert.That(s.GetInt(lim!), Is.EqualTo(10), "a refused value is not stored");
        Assert.That(WriteInt(k, mib, 12), Is.EqualTo(0));
        Assert.That(applied, Is.EqualTo(12), "the write handler applied it");
        Assert.That(s.GetInt(lim!), Is.EqualTo(12));
        long wide = 12;
        Assert.That(Sysctl(k, mib, null, null, &wide, sizeof(long)), Is.EqualTo(-Abi.EINVAL), "an int must be written as 4 bytes");
    }

    [Test]
    public void BoolAndStringLeaves()
    {
        RumpKernel k = Boot();
        Sysctl s = k.Kernel.Sysctl;
        Assert.That(s.CreateBool(s.Hw, "flag", true, out Sysctl.Node? b, flags: Abi.CTLFLAG_READWRITE), Is.EqualTo(0));
        int[] mib = s.MibOf(b!)!;
        byte val = 9;
        ulong len = 1;
        Assert.That(Sysctl(k, mib, &val, &len, null, 0), Is.EqualTo(0));
        Assert.That(val, Is.EqualTo(1));
        Assert.That(len, Is.EqualTo(1UL), "a bool is one byte");
        byte two = 2, zero = 0;
        Assert.That(Sysctl(k, mib, null, null, &two, 1), Is.EqualTo(-Abi.EINVAL), "a bool takes only 0 or 1");
        Assert.That(Sysctl(k, mib, null, null, &zero, 1), Is.EqualTo(0));
        Assert.That(s.GetInt(b!), Is.EqualTo(0));

        Assert.That(s.CreateString(s.Hw, "label", "abc", out Sysctl.Node? str, flags: Abi.CTLFLAG_READWRITE, maxLen: 8), Is.EqualTo(0));
        mib = s.MibOf(str!)!;
        fixed (byte* p = "1234567\0"u8) Assert.That(Sysctl(k, mib, null, null, p, 8), Is.EqualTo(0), "7 bytes and the NUL fill the buffer");
        Assert.That(s.GetString(str!), Is.EqualTo("1234567"));
        fixed (byte* p = "12345678"u8) Assert.That(Sysctl(k, mib, null, null, p, 8), Is.EqualTo(-Abi.EINVAL), "no room for the NUL");
        fixed (byte* p = "xy"u8) Assert.That(Sysctl(k, mib, null, null, p, 2), Is.EqualTo(0), "the NUL may be left out");
        Assert.That(s.GetString(str!), Is.EqualTo("xy"));
        Assert.That(s.CreateString(s.Hw, "toolong", "abcdefgh", out _, maxLen: 8), Is.EqualTo(Abi.EINVAL), "an initial value that does not fit");
    }

    [Test]
    public void NumbersNamesAndCollisions()
    {
        RumpKernel k = Boot();
        Sysctl s = k.Kernel.Sysctl;
        Assert.That(s.CreateInt(s.Hw, "a", 1, out Sysctl.Node? a), Is.EqualTo(0));
        Assert.That(s.CreateInt(s.Hw, "b", 2, out Sysctl.Node? b), Is.EqualTo(0));
        Assert.That(a!.Num, Is.GreaterThan(Rump.Kern.Sysctl.CreateBase));
        Assert.That(b!.Num, Is.Not.EqualTo(a.Num));
        Assert.That(s.CreateInt(s.Hw, "a", 3, out _), Is.EqualTo(Abi.EEXIST), "a name already in the directory");
        Assert.That(s.CreateInt(s.Hw, "c", 3, out _, num: Abi.HW_NCPU), Is.EqualTo(Abi.EEXIST), "a number already in the directory");
        Assert.That(s.CreateInt(s.Hw, "c", 3, out Sysctl.Node? c, num: 500), Is.EqualTo(0), "a free fixed number");
        Assert.That(c!.Num, Is.EqualTo(500));
        foreach (string bad in new[] { "", "9lives", "has space", "dot.ted", new string('n', 32) })
            Assert.That(s.CreateInt(s.Hw, bad, 0, out _), Is.EqualTo(Abi.EINVAL), "name \"" + bad + "\"");
        Assert.That(s.CreateInt(s.Hw, new string('n', 31), 0, out _), Is.EqualTo(0), "31 bytes is the longest name");
        Assert.That(s.CreateInt(a, "below", 0, out _), Is.EqualTo(Abi.ENOTDIR), "a child of a leaf");
        Assert.That(s.Destroy(s.Kern), Is.EqualTo(Abi.EPERM), "a permanent node");
        Assert.That(s.Destroy(s.FindByName("kern.hostname")!), Is.EqualTo(Abi.EPERM));
    }

    [Test]
    public void DestroyTreeRemovesChildrenFirst()
    {
        RumpKernel k = Boot();
        Sysctl s = k.Kernel.Sysctl;
        Assert.That(s.CreateNode(s.Hw, "drv0", out Sysctl.Node? top), Is.EqualTo(0));
        Assert.That(s.CreateNode(top, "stats", out Sysctl.Node? stats), Is.EqualTo(0));
        Assert.That(s.CreateQuad(stats, "bytes", 1, out Sysctl.Node? bytes), Is.EqualTo(0));
        Assert.That(s.CreateString(top, "model", "x", out _), Is.EqualTo(0));
        int[] mib = s.MibOf(bytes!)!;
        Assert.That(s.DestroyTree(top!), Is.EqualTo(0));
        Assert.That(s.FindByName("hw.drv0"), Is.Null);
        Assert.That(s.MibOf(bytes!), Is.Null, "the grandchild is dead too");
        Assert.That(ReadQuad(k, mib, out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(s.DestroyTree(s.Hw), Is.EqualTo(Abi.EPERM), "a tree holding permanent nodes is left whole");
        Assert.That(s.FindByName("hw.ncpu"), Is.Not.Null);
    }

    [Test]
    public void QueryListsChildrenAsNetBSDNodes()
    {
        RumpKernel k = Boot(ncpu: 2);
        List<RumpSysctlnode> kern = Query(k, new[] { Abi.CTL_KERN });
        RumpSysctlnode? host = null;
        foreach (RumpSysctlnode n in kern) if (n.sysctl_num == Abi.KERN_HOSTNAME) host = n;
        Assert.That(host, Is.Not.Null, "kern.hostname among kern's children");
        Assert.That(NameOf(host!.Value), Is.EqualTo("hostname"));
        Assert.That(host.Value.sysctl_flags & Abi.SYSCTL_TYPEMASK, Is.EqualTo((uint)Abi.CTLTYPE_STRING));
        Assert.That(host.Value.sysctl_flags & Abi.SYSCTL_VERS_MASK, Is.EqualTo((uint)Abi.SYSCTL_VERSION));
        Assert.That(host.Value.sysctl_flags & Abi.CTLFLAG_READWRITE, Is.EqualTo((uint)Abi.CTLFLAG_READWRITE));
        Assert.That(host.Value.sysctl_size, Is.EqualTo(256UL), "MAXHOSTNAMELEN");
        for (int i = 1; i < kern.Count; i++)
            Assert.That(kern[i].sysctl_num, Is.GreaterThan(kern[i - 1].sysctl_num), "children in number order");

        List<RumpSysctlnode> top = Query(k, ReadOnlySpan<int>.Empty);
        RumpSysctlnode kernNode = top.Find(n => n.sysctl_num == Abi.CTL_KERN);
        Assert.That(NameOf(kernNode), Is.EqualTo("kern"));
        Assert.That(kernNode.sysctl_un.scu_child.suc_clen, Is.EqualTo((uint)kern.Count), "a directory reports its children");
        Assert.That(kernNode.sysctl_size, Is.EqualTo((ulong)sizeof(RumpSysctlnode)));

        Assert.That(NameToMib(k, "kern.msgbuf"), Is.EqualTo(new[] { Abi.CTL_KERN, Abi.KERN_MSGBUF }));
        Assert.That(NameToMib(k, "hw.ncpu"), Is.EqualTo(new[] { Abi.CTL_HW, Abi.HW_NCPU }));
        Assert.That(ReadInt(k, NameToMib(k, "hw.ncpu"), out int ncpu), Is.EqualTo(0));
        Assert.That(ncpu, Is.EqualTo(2));
        Assert.That(NameToMib(k, "kern.nosuch"), Is.Null);

        // A dynamic node is found by name the same way.
        Assert.That(k.Kernel.Sysctl.CreateInt(k.Kernel.Sysctl.Hw, "dyn", 5, out Sysctl.Node? dyn), Is.EqualTo(0));
        Assert.That(NameToMib(k, "hw.dyn"), Is.EqualTo(new[] { Abi.CTL_HW, dyn!.Num }));
    }

    [Test]
    public void QueryErrors()
    {
        RumpKernel k = Boot();
        int[] mib = { Abi.CTL_KERN, Abi.CTL_QUERY };
        RumpSysctlnode q = QueryNode();
        ulong len = 0;
        Assert.That(Sysctl(k, mib, null, &len, null, 0), Is.EqualTo(-Abi.EINVAL), "a query without its node (NetBSD's sysctl_cvt_in)");
        RumpSysctlnode v0 = QueryNode(0);
        Assert.That(Sysctl(k, mib, null, &len, &v0, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EINVAL), "SYSCTL_VERS_0");
        Assert.That(Sysctl(k, mib, null, &len, &q, 8), Is.EqualTo(-Abi.EINVAL), "a short node");
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN, Abi.KERN_HOSTNAME, Abi.CTL_QUERY }, null, &len, &q, (ulong)sizeof(RumpSysctlnode)),
            Is.EqualTo(-Abi.ENOTDIR), "the children of a leaf");
        // A buffer for one node: ENOMEM, the first node, and the length needed for all.
        RumpSysctlnode one;
        len = (ulong)sizeof(RumpSysctlnode);
        Assert.That(Sysctl(k, mib, &one, &len, &q, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.ENOMEM));
        Assert.That(len, Is.GreaterThan((ulong)sizeof(RumpSysctlnode)));
        Assert.That(one.sysctl_num, Is.EqualTo(Abi.KERN_OSTYPE), "the first child came out");
        int[] describe = { Abi.CTL_KERN, Abi.CTL_DESCRIBE };
        Assert.That(Sysctl(k, describe, null, &len, &q, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EOPNOTSUPP), "CTL_DESCRIBE is not implemented");
    }

    /// <summary>A CTL_CREATE request for an immediate int.</summary>
    private static RumpSysctlnode NewIntNode(string name, int num, int value, int flags)
    {
        var n = new RumpSysctlnode { sysctl_flags = (uint)(Abi.SYSCTL_VERSION | Abi.CTLTYPE_INT | flags), sysctl_num = num };
        n.sysctl_un.scu_idata = value;
        byte[] nb = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i < nb.Length; i++) n.sysctl_name[i] = nb[i];
        return n;
    }

    [Test]
    public void ClientsCreateAndDestroyNodes()
    {
        RumpKernel k = Boot();
        int[] create = { Abi.CTL_CREATE };
        RumpSysctlnode req = NewIntNode("userint", Abi.CTL_CREATE, 42, Abi.CTLFLAG_READWRITE | Abi.CTLFLAG_IMMEDIATE);
        RumpSysctlnode made;
        ulong len = (ulong)sizeof(RumpSysctlnode);
        Assert.That(Sysctl(k, create, &made, &len, &req, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(0), "CTL_CREATE at the top, as root");
        Assert.That(made.sysctl_num, Is.GreaterThan(Rump.Kern.Sysctl.CreateBase));
        Assert.That(NameOf(made), Is.EqualTo("userint"));
        Assert.That(ReadInt(k, new[] { made.sysctl_num }, out int v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(42));
        Assert.That(k.Kernel.Sysctl.GetInt(k.Kernel.Sysctl.FindByName("userint")!), Is.EqualTo(42), "the kernel sees a client's node");

        Assert.That(Sysctl(k, create, &made, &len, &req, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EEXIST), "the same name again");
        Assert.That(NameOf(made), Is.EqualTo("userint"), "EEXIST copies out the node in the way");

        RumpSysctlnode underKern = NewIntNode("x", Abi.CTL_CREATE, 1, Abi.CTLFLAG_IMMEDIATE);
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN, Abi.CTL_CREATE }, null, null, &underKern, (ulong)sizeof(RumpSysctlnode)),
            Is.EqualTo(-Abi.EPERM), "kern is not CTLFLAG_READWRITE");
        RumpSysctlnode noData = NewIntNode("nodata", Abi.CTL_CREATE, 1, 0);
        Assert.That(Sysctl(k, create, null, null, &noData, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EINVAL), "a leaf with neither IMMEDIATE nor OWNDATA");
        RumpSysctlnode perm = NewIntNode("perm", Abi.CTL_CREATE, 1, Abi.CTLFLAG_IMMEDIATE | Abi.CTLFLAG_PERMANENT);
        Assert.That(Sysctl(k, create, null, null, &perm, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EPERM), "CTLFLAG_PERMANENT is the kernel's");

        BecomeUser(k, 1000, 1000);
        RumpSysctlnode other = NewIntNode("other", Abi.CTL_CREATE, 1, Abi.CTLFLAG_IMMEDIATE);
        Assert.That(Sysctl(k, create, null, null, &other, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EPERM), "non-root CTL_CREATE");
        Assert.That(ReadInt(k, new[] { made.sysctl_num }, out v), Is.EqualTo(0), "non-root reads");
        Assert.That(WriteInt(k, new[] { made.sysctl_num }, 1), Is.EqualTo(-Abi.EPERM), "non-root writes");
        RumpSysctlnode kill = new() { sysctl_flags = (uint)Abi.SYSCTL_VERSION, sysctl_num = made.sysctl_num };
        Assert.That(Sysctl(k, new[] { Abi.CTL_DESTROY }, null, null, &kill, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EPERM), "non-root CTL_DESTROY");
        BecomeRoot(k);

        RumpSysctlnode dead;
        len = (ulong)sizeof(RumpSysctlnode);
        Assert.That(Sysctl(k, new[] { Abi.CTL_DESTROY }, &dead, &len, &kill, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(0));
        Assert.That(NameOf(dead), Is.EqualTo("userint"), "CTL_DESTROY copies out the removed node");
        Assert.That(ReadInt(k, new[] { made.sysctl_num }, out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(Sysctl(k, new[] { Abi.CTL_DESTROY }, null, null, &kill, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.ENOENT));
        RumpSysctlnode killKern = new() { sysctl_flags = (uint)Abi.SYSCTL_VERSION, sysctl_num = Abi.CTL_KERN };
        Assert.That(Sysctl(k, new[] { Abi.CTL_DESTROY }, null, null, &killKern, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(-Abi.EPERM), "a permanent node");
    }

    [Test]
    public void ClientsCreateOwnedStrings()
    {
        RumpKernel k = Boot();
        byte[] value = Encoding.ASCII.GetBytes("hello\0");
        fixed (byte* pv = value)
        {
            var req = new RumpSysctlnode { sysctl_flags = (uint)(Abi.SYSCTL_VERSION | Abi.CTLTYPE_STRING | Abi.CTLFLAG_OWNDATA | Abi.CTLFLAG_READWRITE), sysctl_num = Abi.CTL_CREATE };
            req.sysctl_un.scu_data.sud_data = (ulong)pv;
            byte[] nb = Encoding.ASCII.GetBytes("greeting");
            for (int i = 0; i < nb.Length; i++) req.sysctl_name[i] = nb[i];
            RumpSysctlnode made;
            ulong len = (ulong)sizeof(RumpSysctlnode);
            Assert.That(Sysctl(k, new[] { Abi.CTL_CREATE }, &made, &len, &req, (ulong)sizeof(RumpSysctlnode)), Is.EqualTo(0));
            Assert.That(made.sysctl_size, Is.EqualTo(6UL), "a string sized by its value when no size is given");
            value[0] = (byte)'J'; // the kernel keeps its own copy
            Assert.That(k.Kernel.Sysctl.GetString("greeting"), Is.EqualTo("hello"));
        }
    }
}
