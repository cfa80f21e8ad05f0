using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Rump.Kern;

/// <summary>
/// One side of a sysctl transfer: the caller's memory (through its vmspace) or a kernel buffer.
/// The default value is NULL (no buffer).
/// </summary>
internal readonly ref struct ValueIo
{
    private readonly Span<byte> _k;
    private readonly Vmspace? _vm;
    private readonly UserPtr _u;
    private readonly bool _kernel;

    private ValueIo(Span<byte> k) { _k = k; _vm = null; _u = default; _kernel = true; }
    private ValueIo(Vmspace vm, UserPtr u) { _k = default; _vm = vm; _u = u; _kernel = false; }

    public static ValueIo Kernel(Span<byte> b) => new(b);
    /// <summary>A kernel buffer only ever read from.</summary>
    public static ValueIo KernelIn(ReadOnlySpan<byte> b) => new(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(b), b.Length));
    public static ValueIo User(Vmspace vm, UserPtr u) => new(vm, u);

    public bool IsNull => !_kernel && (_vm == null || _u.IsNull);

    /// <summary>Copies <paramref name="src"/> to <paramref name="offset"/>; the caller keeps it within the length it was given.</summary>
    public int CopyOut(ReadOnlySpan<byte> src, ulong offset)
    {
        if (_kernel) { src.CopyTo(_k.Slice((int)offset)); return 0; }
        return _vm!.CopyOut(src, _u.Add((long)offset));
    }

    public int CopyIn(Span<byte> dst)
    {
        if (_kernel) { _k.Slice(0, dst.Length).CopyTo(dst); return 0; }
        return _vm!.CopyIn(_u, dst);
    }

    /// <summary>Copies from another address in the same caller memory (a pointer inside a request); EFAULT for a kernel buffer.</summary>
    public int CopyInAt(UserPtr src, Span<byte> dst) => _kernel || _vm == null ? Abi.EFAULT : _vm.CopyIn(src, dst);

    public int CopyInStrAt(UserPtr src, Span<byte> dst, out int len)
    {
        len = 0;
        return _kernel || _vm == null ? Abi.EFAULT : _vm.CopyInStr(src, dst, out len);
    }
}

/// <summary>
/// __sysctl(2) (NetBSD kern_sysctl.c's sys___sysctl, sysctl_dispatch, sysctl_locate, sysctl_lookup,
/// sysctl_query, sysctl_create and sysctl_destroy), with NetBSD's errors: EINVAL for a bad name
/// length, reading a directory or a malformed node description; ENOENT for an unknown number;
/// ENOTDIR below a leaf; EPERM for writes by non-root or to read-only nodes; ENOMEM (with the
/// needed length) when the old value does not fit; EOPNOTSUPP for CTL_DESCRIBE and CTL_MMAP,
/// which are not implemented. Locking: see <see cref="Sysctl"/>.
/// </summary>
public sealed partial class Sysctl
{
    /// <summary>The system call: copies the name and lengths in, dispatches, and copies the old length back even on error.</summary>
    internal int Syscall(Lwp l, UserPtr name, uint namelen, UserPtr oldp, UserPtr oldlenp, UserPtr newp, ulong newlen)
    {
        Vmspace vm = l.Proc.Vmspace;
        ulong oldlen = 0;
        int e;
        if (!oldlenp.IsNull)
        {
            e = vm.CopyIn(oldlenp, out oldlen);
            if (e != 0) return e;
        }
        ulong savelen = oldlen;
        if (namelen < 1 || namelen > Abi.CTL_MAXNAME) return Abi.EINVAL;
        Span<int> mib = stackalloc int[Abi.CTL_MAXNAME];
        mib = mib.Slice(0, (int)namelen);
        e = vm.CopyIn(name, MemoryMarshal.AsBytes(mib));
        if (e != 0) return e;
        e = Dispatch(l.Cred, mib, ValueIo.User(vm, oldp), ref oldlen, ValueIo.User(vm, newp), newlen);
        if (!oldlenp.IsNull)
        {
            int ce = vm.CopyOut(in oldlen, oldlenp);
            if (e == 0) e = ce;
        }
        // Only an otherwise successful call reports that the buffer was short.
        if (e == 0 && !oldp.IsNull && savelen < oldlen) e = Abi.ENOMEM;
        return e;
    }

    private int Dispatch(Cred cred, ReadOnlySpan<int> name, ValueIo oldp, ref ulong oldlen, ValueIo newp, ulong newlen)
    {
        int last = name[name.Length - 1];
        // Writers: a value written, a node made or removed. Queries only read the tree.
        bool write = !newp.IsNull && last != Abi.CTL_QUERY;
        if (write) _lock.EnterWrite(); else _lock.EnterRead();
        try
        {
            Node n = LocateChecked(cred, name, out int ni, out int e);
            if (e == 0)
            {
                if (n.IsDir) return Abi.EINVAL; // "you can't look up a node, only query it"
                return LookupLocked(cred, n, oldp, ref oldlen, newp, newlen);
            }
            // A function node: the rest of the name is its arguments (kern.proc2.op.arg.size.count).
            if (e == Abi.ENOENT && n.NameHandler != null && name[ni] >= 0)
                return write ? Abi.EPERM : n.NameHandler(cred, name.Slice(ni), oldp, ref oldlen);
            // The parent was found and the last number is a meta-identifier: an operation on the parent.
            if (e != Abi.ENOENT || ni + 1 != name.Length || name[ni] >= 0) return e;
            switch (name[ni])
            {
                case Abi.CTL_QUERY: return Query(n, oldp, ref oldlen, newp, newlen);
                case Abi.CTL_CREATE: return newp.IsNull ? Abi.EINVAL : CreateFromClient(cred, n, oldp, ref oldlen, newp, newlen);
                case Abi.CTL_DESTROY: return newp.IsNull ? Abi.EINVAL : DestroyFromClient(cred, n, oldp, ref oldlen, newp, newlen);
                default: return Abi.EOPNOTSUPP; // CTL_DESCRIBE, CTL_MMAP, CTL_CREATESYM: not implemented
            }
        }
        finally { _lock.Exit(); }
    }

    /// <summary><see cref="Locate"/> plus NetBSD's rule that only root walks into a CTLFLAG_PRIVATE directory.</summary>
    private Node LocateChecked(Cred cred, ReadOnlySpan<int> name, out int consumed, out int error)
    {
        Node n = Locate(name, out consumed, out error);
        // Every directory passed through on the way down (all but a found leaf) must be public.
        for (Node? p = error == 0 ? n.Parent : n; p != null; p = p.Parent)
            if (p.IsPrivate && !cred.IsRoot) { error = Abi.EPERM; break; }
        return n;
    }

    // ---- sysctl_lookup: a leaf's value out, then maybe a new one in ---------------------------

    private int LookupLocked(Cred? cred, Node n, ValueIo oldp, ref ulong oldlen, ValueIo newp, ulong newlen)
    {
        if (newlen == 0) newp = default;
        bool writing = !newp.IsNull;
        if (cred != null && n.IsPrivate && !cred.IsRoot) return Abi.EPERM;
        if (writing && cred != null && (n.Flags & Abi.CTLFLAG_ANYWRITE) == 0 && Kauth.Privileged(cred) != 0) return Abi.EPERM;
        if (writing && !n.Writable) return Abi.EPERM;

        int e = ReadValue(n, oldp, ref oldlen);
        if (e != 0 || !writing) return e;
        return WriteValue(n, newp, newlen);
    }

    private static int ReadValue(Node n, ValueIo oldp, ref ulong oldlen)
    {
        Span<byte> small = stackalloc byte[8];
        switch (n.Type)
        {
            case Abi.CTLTYPE_INT:
            case Abi.CTLTYPE_QUAD:
            case Abi.CTLTYPE_BOOL:
            {
                long v = n.ReadInt != null ? n.ReadInt() : n.IntValue;
                int sz = n.Size;
                if (sz == 4) MemoryMarshal.Write(small, (int)v);
                else if (sz == 8) MemoryMarshal.Write(small, v);
                else small[0] = v != 0 ? (byte)1 : (byte)0;
                return CopyValueOut(small.Slice(0, sz), oldp, ref oldlen);
            }
            case Abi.CTLTYPE_STRING:
            {
                string s = n.ReadStr != null ? n.ReadStr() : n.StrValue ?? "";
                int len = Encoding.UTF8.GetByteCount(s) + 1;
                byte[]? rented = len <= 512 ? null : new byte[len];
                Span<byte> buf = rented ?? stackalloc byte[512];
                buf = buf.Slice(0, len);
                Encoding.UTF8.GetBytes(s, buf);
                buf[len - 1] = 0;
                return CopyValueOut(buf, oldp, ref oldlen);
            }
            case Abi.CTLTYPE_STRUCT:
            {
                if (n.Bytes != null) return CopyValueOut(n.Bytes, oldp, ref oldlen);
                int full = n.ReadStruct!(Span<byte>.Empty);
                if (oldp.IsNull) { oldlen = (ulong)full; return 0; }
                var buf = new byte[(int)Math.Min((ulong)full, oldlen)];
                int reported = n.ReadStruct(buf);
                int e = oldp.CopyOut(buf.AsSpan(0, Math.Min(buf.Length, reported)), 0);
                oldlen = (ulong)reported;
                return e;
            }
            default:
                return Abi.EINVAL;
        }
    }

    /// <summary>Copies as much of <paramref name="v"/> as fits and reports its whole length.</summary>
    private static int CopyValueOut(ReadOnlySpan<byte> v, ValueIo oldp, ref ulong oldlen)
    {
        if (!oldp.IsNull)
        {
            int e = oldp.CopyOut(v.Slice(0, (int)Math.Min((ulong)v.Length, oldlen)), 0);
            if (e != 0) return e;
        }
        oldlen = (ulong)v.Length;
        return 0;
    }

    private static int WriteValue(Node n, ValueIo newp, ulong newlen)
    {
        int e;
        switch (n.Type)
        {
            case Abi.CTLTYPE_INT:
            case Abi.CTLTYPE_QUAD:
            case Abi.CTLTYPE_BOOL:
            {
                // These must come in at exactly their size; a bool only as 0 or 1.
                if (newlen != (ulong)n.Size) return Abi.EINVAL;
                Span<byte> b = stackalloc byte[8];
                b = b.Slice(0, n.Size);
                e = newp.CopyIn(b);
                if (e != 0) return e;
                long v = n.Size == 4 ? MemoryMarshal.Read<int>(b) : n.Size == 8 ? MemoryMarshal.Read<long>(b) : b[0];
                if (n.Type == Abi.CTLTYPE_BOOL && v != 0 && v != 1) return Abi.EINVAL;
                if (n.WriteInt != null && (e = n.WriteInt(v)) != 0) return e;
                n.IntValue = v;
                return 0;
            }
            case Abi.CTLTYPE_STRING:
            {
                // Shorter is fine and the NUL may be left out, unless the string fills the buffer.
                if (newlen > (ulong)n.Size) return Abi.EINVAL;
                int len = (int)newlen;
                byte[]? big = len <= 512 ? null : new byte[len];
                Span<byte> b = big ?? stackalloc byte[512];
                b = b.Slice(0, len);
                e = newp.CopyIn(b);
                if (e != 0) return e;
                if (b[len - 1] != 0 && len == n.Size) return Abi.EINVAL;
                int nul = b.IndexOf((byte)0);
                string s = Encoding.UTF8.GetString(nul < 0 ? b : b.Slice(0, nul));
                if (n.WriteStr != null && (e = n.WriteStr(s)) != 0) return e;
                n.StrValue = s;
                return 0;
            }
            case Abi.CTLTYPE_STRUCT:
            {
                if (n.Bytes == null) return Abi.EPERM; // computed structures are read-only
                if (newlen != (ulong)n.Bytes.Length) return Abi.EINVAL;
                var b = new byte[n.Bytes.Length];
                e = newp.CopyIn(b);
                if (e != 0) return e;
                n.Bytes = b;
                return 0;
            }
            default:
                return Abi.EINVAL;
        }
    }

    // ---- CTL_QUERY: the children of a directory as struct sysctlnode --------------------------

    private int Query(Node parent, ValueIo oldp, ref ulong oldlen, ValueIo newp, ulong newlen)
    {
        // NetBSD's sysctl_cvt_in: the query names the ABI version in a struct sysctlnode.
        int e = CopyInNode(newp, newlen, out RumpSysctlnode q);
        if (e != 0) return e;
        if (q.sysctl_ver != 0 && q.sysctl_ver != parent.Ver && q.sysctl_ver != _root.Ver) return Abi.EINVAL;
        ulong left = oldlen, off = 0;
        if (parent.Children != null)
            foreach (Node c in parent.Children)
            {
                ToAbi(c, out RumpSysctlnode s);
                if (!oldp.IsNull && left >= SysctlNodeAbi.Size)
                {
                    e = oldp.CopyOut(MemoryMarshalEx.AsReadOnlyBytes(in s), off);
                    if (e != 0) return e;
                }
                off += SysctlNodeAbi.Size;
                left -= Math.Min(left, SysctlNodeAbi.Size);
            }
        oldlen = off;
        return 0;
    }

    private static int CopyInNode(ValueIo newp, ulong newlen, out RumpSysctlnode node)
    {
        node = default;
        if (newp.IsNull || newlen != SysctlNodeAbi.Size) return Abi.EINVAL;
        int e = newp.CopyIn(MemoryMarshalEx.AsBytes(ref node));
        if (e != 0) return e;
        return (node.sysctl_flags & Abi.SYSCTL_VERS_MASK) == Abi.SYSCTL_VERSION ? 0 : Abi.EINVAL;
    }

    private static unsafe void ToAbi(Node n, out RumpSysctlnode s)
    {
        s = default;
        s.sysctl_flags = (uint)(Abi.SYSCTL_VERSION | n.Type | n.Flags);
        s.sysctl_num = n.Num;
        // Names are checked to be ASCII letters, digits, '-' and '_' when made.
        for (int i = 0; i < n.Name.Length; i++) s.sysctl_name[i] = (byte)n.Name[i];
        s.sysctl_ver = n.Ver;
        if (n.IsDir)
        {
            uint count = (uint)(n.Children?.Count ?? 0);
            s.sysctl_un.scu_child.suc_csize = count;
            s.sysctl_un.scu_child.suc_clen = count;
        }
        else if ((n.Flags & Abi.CTLFLAG_IMMEDIATE) != 0)
        {
            if (n.Type == Abi.CTLTYPE_QUAD) s.sysctl_un.scu_qdata = (ulong)n.IntValue;
            else if (n.Type == Abi.CTLTYPE_BOOL) s.sysctl_un.scu_bdata = (byte)(n.IntValue != 0 ? 1 : 0);
            else s.sysctl_un.scu_idata = (int)n.IntValue;
        }
        s.sysctl_size = (ulong)(n.Bytes?.Length ?? n.Size);
    }

    // ---- CTL_CREATE and CTL_DESTROY from a client --------------------------------------------

    /// <summary>
    /// NetBSD sysctl_create for a process: root only, in a CTLFLAG_READWRITE directory, with user
    /// flags only and no function. Leaves hold their value themselves: CTLFLAG_IMMEDIATE (int,
    /// quad, bool) or CTLFLAG_OWNDATA (copied in from sysctl_data, at most <see cref="MaxUserData"/>
    /// bytes). The new node, or on EEXIST the one in the way, is copied out to oldp.
    /// </summary>
    private unsafe int CreateFromClient(Cred cred, Node parent, ValueIo oldp, ref ulong oldlen, ValueIo newp, ulong newlen)
    {
        if (Kauth.Privileged(cred) != 0 || !parent.Writable) return Abi.EPERM;
        if (!parent.IsDir) return Abi.ENOTDIR;
        int e = CopyInNode(newp, newlen, out RumpSysctlnode nn);
        if (e != 0) return e;
        if (nn.sysctl_parent != 0 || nn.sysctl_func != 0) return Abi.EINVAL;
        string name;
        byte* np = nn.sysctl_name;
        int nlen = new ReadOnlySpan<byte>(np, NameLen).IndexOf((byte)0);
        if (nlen <= 0) return Abi.EINVAL;
        name = NameFrom(np, nlen);
        int type = (int)(nn.sysctl_flags & Abi.SYSCTL_TYPEMASK);
        int flags = (int)(nn.sysctl_flags & Abi.SYSCTL_FLAGMASK);
        if ((flags & ~Abi.SYSCTL_USERFLAGS) != 0) return Abi.EPERM;
        bool own = (flags & Abi.CTLFLAG_OWNDATA) != 0, imm = (flags & Abi.CTLFLAG_IMMEDIATE) != 0;
        if (own && imm) return Abi.EINVAL;
        if (imm && type != Abi.CTLTYPE_INT && type != Abi.CTLTYPE_QUAD && type != Abi.CTLTYPE_BOOL) return Abi.EINVAL;
        ulong sz = nn.sysctl_size;
        var data = new UserPtr((long)nn.sysctl_un.scu_data.sud_data);
        Node n = new Node(name, nn.sysctl_num, type, flags, null);
        switch (type)
        {
            case Abi.CTLTYPE_NODE:
                if (sz != 0 || own || nn.sysctl_un.scu_qdata != 0 || nn.sysctl_un.scu_data.sud_offset != 0) return Abi.EINVAL;
                n.Size = SysctlNodeAbi.Size;
                break;
            case Abi.CTLTYPE_INT:
            case Abi.CTLTYPE_QUAD:
            case Abi.CTLTYPE_BOOL:
            {
                int want = type == Abi.CTLTYPE_INT ? 4 : type == Abi.CTLTYPE_QUAD ? 8 : 1;
                if (sz != 0 && sz != (ulong)want) return Abi.EINVAL;
                n.Size = want;
                Span<byte> b = stackalloc byte[8];
                if (imm) MemoryMarshal.Write(b, nn.sysctl_un.scu_qdata);
                else if (own)
                {
                    if (data.IsNull) return Abi.EINVAL;
                    e = newp.IsNull ? Abi.EINVAL : CopyInFromClient(newp, data, b.Slice(0, want));
                    if (e != 0) return e;
                }
                else return Abi.EINVAL; // a client's leaf must hold its own value
                n.IntValue = want == 4 ? MemoryMarshal.Read<int>(b) : want == 8 ? MemoryMarshal.Read<long>(b) : b[0];
                if (type == Abi.CTLTYPE_BOOL && n.IntValue != 0 && n.IntValue != 1) return Abi.EINVAL;
                break;
            }
            case Abi.CTLTYPE_STRING:
            {
                if (!own || data.IsNull || sz > MaxUserData) return Abi.EINVAL;
                byte[] b = new byte[sz == 0 ? MaxUserData : (int)sz];
                int len;
                if (sz == 0)
                {
                    e = ClientString(newp, data, b, out len);
                    if (e != 0) return e;
                    n.Size = len + 1;
                }
                else
                {
                    e = CopyInFromClient(newp, data, b);
                    if (e != 0) return e;
                    len = Array.IndexOf(b, (byte)0);
                    if (len < 0) return Abi.EINVAL;
                    n.Size = (int)sz;
                }
                n.StrValue = Encoding.UTF8.GetString(b, 0, len);
                break;
            }
            case Abi.CTLTYPE_STRUCT:
            {
                if (!own || data.IsNull || sz == 0 || sz > MaxUserData) return Abi.EINVAL;
                var b = new byte[(int)sz];
                e = CopyInFromClient(newp, data, b);
                if (e != 0) return e;
                n.Bytes = b;
                n.Size = b.Length;
                break;
            }
            default:
                return Abi.EINVAL;
        }
        e = InsertLocked(parent, n, out Node? clash);
        Node report = e == Abi.EEXIST ? clash! : n;
        if (e != 0 && e != Abi.EEXIST) return e;
        ToAbi(report, out RumpSysctlnode o);
        int ce = CopyNodeOut(o, oldp, ref oldlen);
        return e != 0 ? e : ce;
    }

    /// <summary>
    /// NetBSD sysctl_destroy for a process: root only, in a CTLFLAG_READWRITE directory; the node
    /// is the child with the given number (and name and version, when given). The removed node is
    /// copied out to oldp.
    /// </summary>
    private unsafe int DestroyFromClient(Cred cred, Node parent, ValueIo oldp, ref ulong oldlen, ValueIo newp, ulong newlen)
    {
        if (Kauth.Privileged(cred) != 0 || !parent.Writable) return Abi.EPERM;
        int e = CopyInNode(newp, newlen, out RumpSysctlnode nn);
        if (e != 0) return e;
        byte* np = nn.sysctl_name;
        int nlen = new ReadOnlySpan<byte>(np, NameLen).IndexOf((byte)0);
        string? name = nlen > 0 ? NameFrom(np, nlen) : nlen == 0 ? null : "";
        Node? victim = null;
        if (parent.Children != null)
            foreach (Node c in parent.Children)
                if (c.Num == nn.sysctl_num && (name == null || c.Name == name) && (nn.sysctl_ver == 0 || nn.sysctl_ver == c.Ver))
                { victim = c; break; }
        if (victim == null) return Abi.ENOENT;
        ToAbi(victim, out RumpSysctlnode o);
        e = DestroyLocked(victim);
        if (e != 0) return e;
        return CopyNodeOut(o, oldp, ref oldlen);
    }

    /// <summary>A client's node name, byte for byte (ValidName then refuses anything but the allowed ASCII).</summary>
    private static unsafe string NameFrom(byte* p, int len)
    {
        var chars = new char[len];
        for (int i = 0; i < len; i++) chars[i] = (char)p[i];
        return new string(chars);
    }

    private static int CopyNodeOut(in RumpSysctlnode o, ValueIo oldp, ref ulong oldlen)
    {
        int e = 0;
        if (!oldp.IsNull && oldlen >= SysctlNodeAbi.Size) e = oldp.CopyOut(MemoryMarshalEx.AsReadOnlyBytes(in o), 0);
        oldlen = SysctlNodeAbi.Size;
        return e;
    }

    /// <summary>Data a CTL_CREATE request points at, in the same address space as the request.</summary>
    private static int CopyInFromClient(ValueIo request, UserPtr data, Span<byte> dst) => request.CopyInAt(data, dst);

    private static int ClientString(ValueIo request, UserPtr data, Span<byte> dst, out int len)
    {
        int e = request.CopyInStrAt(data, dst, out len);
        return e == Abi.ENAMETOOLONG ? Abi.EINVAL : e;
    }
}
