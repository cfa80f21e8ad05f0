using System;
using System.Collections.Generic;
using System.Text;

namespace Rump.Kern;

/// <summary>
/// The sysctl tree (NetBSD sysctl(9)): nodes addressed by a MIB of integers (and by dotted name for
/// the managed API). Leaves are strings or integers, read-only or writable by root.
/// <see cref="_lock"/> protects every node's value.
/// </summary>
public sealed class Sysctl
{
    public sealed class Node
    {
        public readonly string Name;
        public readonly int Num;
        public readonly Dictionary<int, Node>? Children;
        public string? StrValue;
        public long? IntValue;
        public readonly bool Writable;
        public readonly int MaxLen;
        /// <summary>A structure computed on each read (kern.msgbuf).</summary>
        public Func<byte[]>? Bytes;

        internal Node(string name, int num, bool dir, bool writable = false, int maxLen = 256)
        {
            Name = name; Num = num; Writable = writable; MaxLen = maxLen;
            if (dir) Children = new Dictionary<int, Node>();
        }
    }

    private readonly KMutex _lock;
    private readonly Node _root = new Node("", 0, dir: true);

    internal Sysctl(Kernel k, string hostname)
    {
        _lock = new KMutex(k);
        Node kern = AddDir(_root, "kern", Abi.CTL_KERN);
        AddString(kern, "ostype", Abi.KERN_OSTYPE, "NetBSD");
        AddString(kern, "osrelease", Abi.KERN_OSRELEASE, "10.1");
        AddInt(kern, "osrevision", Abi.KERN_OSREV, 1001000000);
        AddString(kern, "version", Abi.KERN_VERSION, "NetBSD 10.1 (RUMP-ROAST) rump kernel in C#");
        AddString(kern, "hostname", Abi.KERN_HOSTNAME, hostname, writable: true, maxLen: 256);
        AddInt(kern, "msgbufsize", Abi.KERN_MSGBUFSIZE, k.MsgBuf.Size);
        AddStruct(kern, "msgbuf", Abi.KERN_MSGBUF, () => { var b = new byte[k.MsgBuf.Size]; k.MsgBuf.CopyOut(b); return b; });
    }

    public Node AddStruct(Node parent, string name, int num, Func<byte[]> read)
    {
        var n = new Node(name, num, dir: false) { Bytes = read };
        parent.Children![num] = n;
        return n;
    }

    public Node AddDir(Node parent, string name, int num)
    {
        var n = new Node(name, num, dir: true);
        parent.Children![num] = n;
        return n;
    }

    public Node AddString(Node parent, string name, int num, string value, bool writable = false, int maxLen = 256)
    {
        var n = new Node(name, num, dir: false, writable, maxLen) { StrValue = value };
        parent.Children![num] = n;
        return n;
    }

    public Node AddInt(Node parent, string name, int num, long value, bool writable = false)
    {
        var n = new Node(name, num, dir: false, writable) { IntValue = value };
        parent.Children![num] = n;
        return n;
    }

    public Node Root => _root;

    /// <summary>The node at <paramref name="mib"/>, or null.</summary>
    public Node? Find(ReadOnlySpan<int> mib)
    {
        Node n = _root;
        foreach (int i in mib)
        {
            if (n.Children == null || !n.Children.TryGetValue(i, out Node? c)) return null;
            n = c;
        }
        return n;
    }

    /// <summary>The node named <paramref name="dotted"/> ("kern.hostname"), or null.</summary>
    public Node? FindByName(string dotted)
    {
        Node n = _root;
        foreach (string part in dotted.Split('.'))
        {
            Node? next = null;
            if (n.Children != null)
                foreach (Node c in n.Children.Values)
                    if (c.Name == part) { next = c; break; }
            if (next == null) return null;
            n = next;
        }
        return n;
    }

    /// <summary>The value of a leaf as bytes (strings NUL-terminated, integers as 32-bit when they fit, as NetBSD's CTLTYPE_INT).</summary>
    public byte[] Read(Node n)
    {
        _lock.Enter();
        try
        {
            if (n.Bytes != null) return n.Bytes();
            if (n.StrValue != null) return Encoding.UTF8.GetBytes(n.StrValue + "\0");
            long v = n.IntValue ?? 0;
            return v is >= int.MinValue and <= int.MaxValue ? BitConverter.GetBytes((int)v) : BitConverter.GetBytes(v);
        }
        finally { _lock.Exit(); }
    }

    /// <summary>Writes a leaf; EPERM for read-only nodes or non-root callers, EINVAL for a bad size.</summary>
    public int Write(Cred cred, Node n, ReadOnlySpan<byte> value)
    {
        if (!n.Writable) return Abi.EPERM;
        int e = Kauth.Privileged(cred);
        if (e != 0) return e;
        _lock.Enter();
        try
        {
            if (n.StrValue != null)
            {
                int len = value.IndexOf((byte)0);
                if (len < 0) len = value.Length;
                if (len >= n.MaxLen) return Abi.EINVAL;
                n.StrValue = Encoding.UTF8.GetString(value.Slice(0, len));
                return 0;
            }
            if (value.Length == 4) n.IntValue = BitConverter.ToInt32(value);
            else if (value.Length == 8) n.IntValue = BitConverter.ToInt64(value);
            else return Abi.EINVAL;
            return 0;
        }
        finally { _lock.Exit(); }
    }

    public string? GetString(string dotted)
    {
        Node? n = FindByName(dotted);
        if (n == null || n.StrValue == null) return null;
        _lock.Enter();
        string v = n.StrValue;
        _lock.Exit();
        return v;
    }
}
