using System;
using System.Collections.Generic;
using System.Text;

namespace Rump.Kern;

/// <summary>
/// Fills <paramref name="dst"/> with up to its length of a structure's bytes and returns the
/// length to report: the whole structure's size (a short buffer is then ENOMEM, as sysctl_lookup),
/// or, for a reader that means a partial read to succeed (kern.msgbuf), the bytes it copied.
/// An empty <paramref name="dst"/> asks for the size only.
/// </summary>
public delegate int SysctlStructReader(Span<byte> dst);

/// <summary>
/// A directory whose own handler answers the names below it (NetBSD's function nodes such as
/// kern.proc2, whose further levels are arguments, not nodes): <paramref name="rest"/> is the part
/// of the name after the node; oldp/oldlen as sysctl(3). Runs with the tree's lock held as reader.
/// </summary>
internal delegate int SysctlNameHandler(Cred cred, ReadOnlySpan<int> rest, ValueIo oldp, ref ulong oldlen);

/// <summary>
/// The sysctl tree of one kernel (NetBSD sysctl(9) and sysctl(3)): nodes addressed by a MIB of
/// integers or by a dotted name. Components create directories and int, bool, quad, string and
/// structure leaves at boot or later (NetBSD's sysctl_createv), read-only or writable, with
/// optional handlers that compute a value when it is read or check and apply one when it is
/// written, and remove them again (sysctl_destroyv), e.g. when a driver detaches. Nodes without a
/// fixed number get one from <see cref="CreateBase"/> up. Clients reach the same tree through
/// __sysctl(2) (SysctlCall.cs), including CTL_QUERY, CTL_CREATE and CTL_DESTROY.
///
/// Locking: <see cref="_lock"/> (reader/writer) protects the shape of the tree (children, numbers,
/// versions) and every node's stored value. Reads hold it as reader, writes, creations and
/// destructions as writer. Value handlers run with it held (as reader for reads, writer for
/// writes): so once <see cref="Destroy"/> returns, the node's handlers are not running and never
/// will again, and a driver may free what they read. Order: this lock comes before any lock a
/// handler takes, so a handler must not create, destroy, read or write sysctl nodes, and nobody
/// may create or destroy nodes while holding a lock that some handler takes.
/// </summary>
public sealed partial class Sysctl
{
    /// <summary>SYSCTL_NAMELEN: names are 1..31 bytes of letters, digits, '-' and '_', not starting with a digit.</summary>
    public const int NameLen = 32;
    /// <summary>CREATE_BASE: numbers handed out for CTL_CREATE start above it.</summary>
    public const int CreateBase = 1024;
    /// <summary>The largest value a client may give a node it creates (NetBSD sizes these by the page).</summary>
    public const int MaxUserData = 4096;

    /// <summary>A node of the tree. Reference type identity is the node's identity; a destroyed node stays dead.</summary>
    public sealed class Node
    {
        public string Name { get; }
        public int Num { get; internal set; }
        /// <summary>CTLTYPE_NODE, _INT, _STRING, _QUAD, _STRUCT or _BOOL.</summary>
        public int Type { get; }
        /// <summary>CTLFLAG_* bits.</summary>
        public int Flags { get; }
        public Node? Parent { get; internal set; }
        public string? Description { get; }
        internal uint Ver;
        /// <summary>Directories: the children sorted by number (null when empty).</summary>
        internal List<Node>? Children;
        /// <summary>sysctl_size: 4 (int), 8 (quad), 1 (bool), the buffer size (string), the structure's size.</summary>
        internal int Size;
        /// <summary>Stored value of int, quad and bool (0 or 1) leaves.</summary>
        internal long IntValue;
        internal string? StrValue;
        /// <summary>A structure a client created with CTLFLAG_OWNDATA.</summary>
        internal byte[]? Bytes;
        internal Func<long>? ReadInt;
        internal Func<long, int>? WriteInt;
        internal Func<string>? ReadStr;
        internal Func<string, int>? WriteStr;
        internal SysctlStructReader? ReadStruct;
        internal SysctlNameHandler? NameHandler;
        internal bool Dead;

        internal Node(string name, int num, int type, int flags, string? desc)
        {
            Name = name; Num = num; Type = type; Flags = flags; Description = desc;
        }

        public bool IsDir => Type == Abi.CTLTYPE_NODE;
        public bool Writable => (Flags & Abi.CTLFLAG_READWRITE) != 0;
        public bool IsPrivate => (Flags & Abi.CTLFLAG_PRIVATE) != 0;
        public bool IsPermanent => (Flags & Abi.CTLFLAG_PERMANENT) != 0;

        /// <summary>The dotted name ("kern.hostname").</summary>
        public override string ToString() => Parent == null || Parent.Parent == null ? Name : Parent + "." + Name;
    }

    private readonly KRwLock _lock;
    private readonly Node _root;
    /// <summary>The last number handed out by CTL_CREATE (NetBSD keeps it in sysctl_root.sysctl_num).</summary>
    private int _createNum = CreateBase;

    /// <summary>CTL_KERN and CTL_HW, made at boot.</summary>
    public Node Kern { get; }
    public Node Hw { get; }
    public Node Root => _root;

    internal Sysctl(Kernel k, string hostname)
    {
        _lock = new KRwLock(k);
        // Clients may add nodes at the top, as in NetBSD (sysctl_root is CTLFLAG_READWRITE).
        _root = new Node("", 0, Abi.CTLTYPE_NODE, Abi.CTLFLAG_ROOT | Abi.CTLFLAG_READWRITE, null);
        const int P = Abi.CTLFLAG_PERMANENT;
        Kern = Must(CreateNode(null, "kern", out Node? kern, Abi.CTL_KERN, P, "High kernel"), kern);
        Must(CreateString(kern, "ostype", "NetBSD", out _, Abi.KERN_OSTYPE, P), null);
        Must(CreateString(kern, "osrelease", "10.1", out _, Abi.KERN_OSRELEASE, P), null);
        Must(CreateInt(kern, "osrevision", 1001000000, out _, Abi.KERN_OSREV, P), null);
        Must(CreateString(kern, "version", "NetBSD 10.1 (RUMP-ROAST) rump kernel in C#", out _, Abi.KERN_VERSION, P), null);
        // MAXHOSTNAMELEN
        Must(CreateString(kern, "hostname", hostname, out _, Abi.KERN_HOSTNAME, P | Abi.CTLFLAG_READWRITE, maxLen: 256), null);
        Must(CreateInt(kern, "msgbufsize", 0, out _, Abi.KERN_MSGBUFSIZE, P, read: () => k.MsgBuf.Size, desc: "Size of the kernel message buffer"), null);
        Must(CreateStruct(kern, "msgbuf", MsgbufRead(k), out _, Abi.KERN_MSGBUF, P, "Kernel message buffer"), null);
        Hw = Must(CreateNode(null, "hw", out Node? hw, Abi.CTL_HW, P, "Generic CPU, I/O"), hw);
        Must(CreateString(hw, "machine", "amd64", out _, Abi.HW_MACHINE, P), null);
        Must(CreateString(hw, "machine_arch", "x86_64", out _, Abi.HW_MACHINE_ARCH, P), null);
        Must(CreateInt(hw, "ncpu", 0, out _, Abi.HW_NCPU, P, read: () => k.Sched.Ncpu, desc: "Number of CPUs configured"), null);
        Must(CreateInt(hw, "pagesize", 4096, out _, Abi.HW_PAGESIZE, P), null);
    }

    private static Node Must(int error, Node? n)
    {
        if (error != 0) Kernel.Panic("sysctl: cannot make a boot node: error " + error);
        return n!;
    }

    /// <summary>
    /// kern.msgbuf as NetBSD's sysctl_msgbuf answers: the size query gets the whole ring's size, and
    /// a read gets what fits without ENOMEM (it reports the bytes it copied).
    /// </summary>
    private static SysctlStructReader MsgbufRead(Kernel k) => dst => dst.Length == 0 ? k.MsgBuf.Size : k.MsgBuf.CopyOut(dst);

    // ---- creating and destroying (the kernel's sysctl_createv / sysctl_destroyv) -------------

    /// <summary>A directory under <paramref name="parent"/> (null: the root). EEXIST if the name or number is taken.</summary>
    public int CreateNode(Node? parent, string name, out Node? node, int num = Abi.CTL_CREATE, int flags = 0, string? desc = null)
        => Add(parent, new Node(name, num, Abi.CTLTYPE_NODE, flags, desc) { Size = SysctlNodeAbi.Size }, out node);

    /// <summary>A directory whose handler answers every name below it (read-only; see <see cref="SysctlNameHandler"/>).</summary>
    internal int CreateNameHandler(Node? parent, string name, SysctlNameHandler handler, out Node? node, int num, int flags = 0, string? desc = null)
        => Add(parent, new Node(name, num, Abi.CTLTYPE_NODE, flags, desc) { Size = SysctlNodeAbi.Size, NameHandler = handler }, out node);

    /// <summary>
    /// An int leaf. <paramref name="read"/>, if given, computes the value on every read;
    /// <paramref name="write"/>, if given, checks (and applies) a value written through sysctl(2):
    /// it returns 0 to accept it, else the errno the writer gets. Writable with CTLFLAG_READWRITE.
    /// </summary>
    public int CreateInt(Node? parent, string name, long value, out Node? node, int num = Abi.CTL_CREATE, int flags = 0,
                         Func<long>? read = null, Func<long, int>? write = null, string? desc = null)
        => Add(parent, new Node(name, num, Abi.CTLTYPE_INT, flags, desc) { Size = 4, IntValue = (int)value, ReadInt = read, WriteInt = write }, out node);

    /// <summary>A 64-bit leaf (CTLTYPE_QUAD); handlers as for <see cref="CreateInt"/>.</summary>
    public int CreateQuad(Node? parent, string name, long value, out Node? node, int num = Abi.CTL_CREATE, int flags = 0,
                          Func<long>? read = null, Func<long, int>? write = null, string? desc = null)
        => Add(parent, new Node(name, num, Abi.CTLTYPE_QUAD, flags, desc) { Size = 8, IntValue = value, ReadInt = read, WriteInt = write }, out node);

    /// <summary>A bool leaf (one byte, 0 or 1; any other byte written is EINVAL).</summary>
    public int CreateBool(Node? parent, string name, bool value, out Node? node, int num = Abi.CTL_CREATE, int flags = 0,
                          Func<bool>? read = null, Func<bool, int>? write = null, string? desc = null)
        => Add(parent, new Node(name, num, Abi.CTLTYPE_BOOL, flags, desc)
        {
            Size = 1, IntValue = value ? 1 : 0,
            ReadInt = read == null ? null : () => read() ? 1 : 0,
            WriteInt = write == null ? null : v => write(v != 0),
        }, out node);

    /// <summary>A string leaf whose buffer is <paramref name="maxLen"/> bytes with the NUL (writes must fit it).</summary>
    public int CreateString(Node? parent, string name, string value, out Node? node, int num = Abi.CTL_CREATE, int flags = 0,
                            int maxLen = 256, Func<string>? read = null, Func<string, int>? write = null, string? desc = null)
    {
        node = null;
        if (maxLen < 1 || Encoding.UTF8.GetByteCount(value) >= maxLen) return Abi.EINVAL;
        return Add(parent, new Node(name, num, Abi.CTLTYPE_STRING, flags, desc) { Size = maxLen, StrValue = value, ReadStr = read, WriteStr = write }, out node);
    }

    /// <summary>A read-only structure computed by <paramref name="read"/> on every read.</summary>
    public int CreateStruct(Node? parent, string name, SysctlStructReader read, out Node? node, int num = Abi.CTL_CREATE, int flags = 0, string? desc = null)
    {
        node = null;
        if ((flags & Abi.CTLFLAG_READWRITE) != 0) return Abi.EINVAL;
        return Add(parent, new Node(name, num, Abi.CTLTYPE_STRUCT, flags, desc) { ReadStruct = read, Size = read(Span<byte>.Empty) }, out node);
    }

    private int Add(Node? parent, Node n, out Node? node)
    {
        node = null;
        _lock.EnterWrite();
        try
        {
            int e = InsertLocked(parent ?? _root, n, out _);
            if (e == 0) node = n;
            return e;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>
    /// Links <paramref name="n"/> under <paramref name="parent"/> (NetBSD sysctl_create's checks that
    /// apply to everyone); <paramref name="clash"/> is the sibling that made it EEXIST.
    /// </summary>
    private int InsertLocked(Node parent, Node n, out Node? clash)
    {
        clash = null;
        if (parent.Dead) return Abi.ENOENT;
        if (!parent.IsDir) return Abi.ENOTDIR;
        if (!ValidName(n.Name)) return Abi.EINVAL;
        if (n.Num < 0 && n.Num != Abi.CTL_CREATE) return Abi.EINVAL;
        List<Node> kids = parent.Children ??= new List<Node>(4);
        foreach (Node c in kids)
            if (c.Num == n.Num || c.Name == n.Name) { clash = c; return Abi.EEXIST; }
        int num = n.Num;
        if (num == Abi.CTL_CREATE)
        {
            num = ++_createNum;
            while (IndexOf(kids, num) >= 0) num++;
        }
        n.Num = num;
        n.Parent = parent;
        int at = 0;
        while (at < kids.Count && kids[at].Num < num) at++;
        kids.Insert(at, n);
        BumpVersion(n);
        return 0;
    }

    private static int IndexOf(List<Node> kids, int num)
    {
        for (int i = 0; i < kids.Count; i++) if (kids[i].Num == num) return i;
        return -1;
    }

    /// <summary>NetBSD: every node from <paramref name="n"/> up to the root takes the root's version plus one.</summary>
    private void BumpVersion(Node n)
    {
        uint v = _root.Ver + 1;
        for (Node? p = n; p != null; p = p.Parent) p.Ver = v;
    }

    internal static bool ValidName(string name)
    {
        if (name.Length == 0 || name.Length >= NameLen || (name[0] >= '0' && name[0] <= '9')) return false;
        foreach (char c in name)
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) return false;
        return true;
    }

    /// <summary>
    /// Removes a node (sysctl_destroyv): EPERM if it is permanent, ENOTEMPTY for a directory with
    /// children, ENOENT if it is already gone. Its handlers are not running once this returns.
    /// </summary>
    public int Destroy(Node n)
    {
        _lock.EnterWrite();
        try { return DestroyLocked(n); }
        finally { _lock.Exit(); }
    }

    /// <summary>Removes <paramref name="n"/> and everything below it, children first (a detaching driver's subtree).</summary>
    public int DestroyTree(Node n)
    {
        _lock.EnterWrite();
        try
        {
            if (n.Dead) return Abi.ENOENT;
            if (HasPermanent(n)) return Abi.EPERM;
            DestroyBelowLocked(n);
            return DestroyLocked(n);
        }
        finally { _lock.Exit(); }
    }

    private static bool HasPermanent(Node n)
    {
        if (n.IsPermanent) return true;
        if (n.Children != null)
            foreach (Node c in n.Children) if (HasPermanent(c)) return true;
        return false;
    }

    private void DestroyBelowLocked(Node n)
    {
        while (n.Children != null && n.Children.Count > 0)
        {
            Node c = n.Children[n.Children.Count - 1];
            DestroyBelowLocked(c);
            DestroyLocked(c);
        }
    }

    private int DestroyLocked(Node n)
    {
        if (n.Dead || n.Parent == null) return n.Parent == null && !n.Dead ? Abi.EPERM : Abi.ENOENT;
        if (n.IsPermanent) return Abi.EPERM;
        if (n.Children != null && n.Children.Count > 0) return Abi.ENOTEMPTY;
        Node parent = n.Parent;
        parent.Children!.Remove(n);
        if (parent.Children.Count == 0) parent.Children = null;
        n.Dead = true;
        uint v = _root.Ver + 1;
        for (Node? p = parent; p != null; p = p.Parent) p.Ver = v;
        return 0;
    }

    // ---- finding nodes -------------------------------------------------------------------------

    /// <summary>The node at <paramref name="mib"/>, or null.</summary>
    public Node? Find(ReadOnlySpan<int> mib)
    {
        _lock.EnterRead();
        try { return Locate(mib, out _, out int e) is Node n && e == 0 ? n : null; }
        finally { _lock.Exit(); }
    }

    /// <summary>The node named <paramref name="dotted"/> ("kern.hostname"), or null.</summary>
    public Node? FindByName(string dotted)
    {
        _lock.EnterRead();
        try
        {
            Node n = _root;
            foreach (string part in dotted.Split('.'))
            {
                Node? next = null;
                if (n.Children != null)
                    foreach (Node c in n.Children)
                        if (c.Name == part) { next = c; break; }
                if (next == null) return null;
                n = next;
            }
            return n;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>The MIB of a live node (the numbers from the root down), or null if it was destroyed.</summary>
    public int[]? MibOf(Node n)
    {
        _lock.EnterRead();
        try
        {
            if (n.Dead) return null;
            int depth = 0;
            for (Node? p = n; p != null && p.Parent != null; p = p.Parent) depth++;
            var mib = new int[depth];
            for (Node? p = n; p != null && p.Parent != null; p = p.Parent) mib[--depth] = p.Num;
            return mib;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>
    /// NetBSD sysctl_locate: walks <paramref name="mib"/> from the root. Returns the deepest node
    /// reached, with <paramref name="consumed"/> numbers used and the error: 0 when the whole MIB
    /// named a node, ENOENT when a number was not found (the node returned is then the parent),
    /// ENOTDIR when the walk tried to go below a leaf. Called with the lock held.
    /// </summary>
    private Node Locate(ReadOnlySpan<int> mib, out int consumed, out int error)
    {
        Node n = _root;
        error = 0;
        int i;
        for (i = 0; i < mib.Length; i++)
        {
            if (!n.IsDir) { error = Abi.ENOTDIR; break; }
            Node? next = null;
            if (n.Children != null)
                foreach (Node c in n.Children)
                    if (c.Num == mib[i]) { next = c; break; }
            if (next == null) { error = Abi.ENOENT; break; }
            n = next;
        }
        consumed = i;
        return n;
    }

    // ---- values through the managed API ---------------------------------------------------------

    /// <summary>The value of an int, quad or bool leaf (its handler's answer if it has one); 0 for a destroyed node.</summary>
    public long GetInt(Node n)
    {
        _lock.EnterRead();
        try { return n.Dead ? 0 : n.ReadInt != null ? n.ReadInt() : n.IntValue; }
        finally { _lock.Exit(); }
    }

    /// <summary>The value of a string leaf, or null for another type or a destroyed node.</summary>
    public string? GetString(Node n)
    {
        _lock.EnterRead();
        try { return n.Dead || n.Type != Abi.CTLTYPE_STRING ? null : n.ReadStr != null ? n.ReadStr() : n.StrValue; }
        finally { _lock.Exit(); }
    }

    public string? GetString(string dotted) => FindByName(dotted) is Node n ? GetString(n) : null;

    /// <summary>The owner updates its stored value (like assigning the C variable a node points to): no permission check, no handler.</summary>
    public void SetInt(Node n, long value)
    {
        _lock.EnterWrite();
        n.IntValue = n.Type == Abi.CTLTYPE_INT ? (int)value : n.Type == Abi.CTLTYPE_BOOL ? (value != 0 ? 1 : 0) : value;
        _lock.Exit();
    }

    public int SetString(Node n, string value)
    {
        if (n.Type != Abi.CTLTYPE_STRING) return Abi.EINVAL;
        if (Encoding.UTF8.GetByteCount(value) >= n.Size) return Abi.EINVAL;
        _lock.EnterWrite();
        n.StrValue = value;
        _lock.Exit();
        return 0;
    }

    /// <summary>
    /// sysctl(3) on a node from kernel code, with sysctl(2)'s rules for <paramref name="cred"/>
    /// (null: the kernel itself, which skips the credential checks but not CTLFLAG_READWRITE):
    /// copies up to <paramref name="oldBuf"/>'s length of the value (an empty buffer asks for the
    /// length only), reports the value's length in <paramref name="oldLen"/>, then writes
    /// <paramref name="newValue"/> unless it is empty. ENOMEM if the old value did not fit.
    /// </summary>
    public int Lookup(Cred? cred, Node n, Span<byte> oldBuf, out int oldLen, ReadOnlySpan<byte> newValue)
    {
        bool write = newValue.Length > 0;
        if (write) _lock.EnterWrite(); else _lock.EnterRead();
        ulong len = (ulong)oldBuf.Length;
        int e;
        try
        {
            e = n.Dead ? Abi.ENOENT
                : LookupLocked(cred, n, oldBuf.Length == 0 ? default : ValueIo.Kernel(oldBuf), ref len,
                               write ? ValueIo.KernelIn(newValue) : default, (ulong)newValue.Length);
        }
        finally { _lock.Exit(); }
        oldLen = (int)Math.Min(len, int.MaxValue);
        if (e == 0 && oldBuf.Length > 0 && (ulong)oldBuf.Length < len) e = Abi.ENOMEM;
        return e;
    }
}
