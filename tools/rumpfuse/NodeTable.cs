using System.Collections.Generic;
using Rump.Vfs;

namespace Rump.Fuse;

/// <summary>
/// FUSE node ids for vnodes, with the kernel's lookup counts (libfuse's passthrough_ll inode
/// table): each entry reply adds one lookup, forget removes as many as it says, and a node id
/// is freed only at zero. A node holds one reference to its vnode for as long as it lives, so
/// the vnode stays in the kernel's vnode cache and the same file keeps the same id for the
/// mount's life (the vnode cache gives one vnode per file). Ids are never reused, so the
/// generation is always 0. Id 1 is the root, held until shutdown.
///
/// Lock: <see cref="_lock"/> (a host lock: this is not kernel state) protects both maps and every
/// node's count. No kernel call is made under it: references to drop are returned to the caller,
/// which releases them in its kernel context.
/// </summary>
internal sealed class NodeTable
{
    public const ulong RootId = 1;

    private sealed class Node
    {
        public readonly ulong Id;
        public readonly Vnode Vp;
        public ulong Lookups;
        public Node(ulong id, Vnode vp) { Id = id; Vp = vp; }
    }

    private readonly object _lock = new();
    private readonly Dictionary<ulong, Node> _byId = new();
    private readonly Dictionary<Vnode, Node> _byVnode = new(ReferenceEqualityComparer.Instance);
    private ulong _next = RootId + 1;

    public NodeTable(Vnode root)
    {
        var n = new Node(RootId, root) { Lookups = 1 };
        _byId[RootId] = n;
        _byVnode[root] = n;
    }

    /// <summary>The vnode of node <paramref name="id"/> (the table's reference, valid while the kernel has not forgotten it), or null.</summary>
    public Vnode? Get(ulong id)
    {
        lock (_lock) return _byId.TryGetValue(id, out Node? n) ? n.Vp : null;
    }

    /// <summary>
    /// One more lookup of <paramref name="vp"/>, whose reference the caller passes in: the node id.
    /// <paramref name="extra"/> is set when the table already held the vnode: the caller releases
    /// the reference it passed.
    /// </summary>
    public ulong Add(Vnode vp, out bool extra)
    {
        lock (_lock)
        {
            if (_byVnode.TryGetValue(vp, out Node? n))
            {
                n.Lookups++;
                extra = true;
                return n.Id;
            }
            n = new Node(_next++, vp) { Lookups = 1 };
            _byId[n.Id] = n;
            _byVnode[vp] = n;
            extra = false;
            return n.Id;
        }
    }

    /// <summary>forget: <paramref name="count"/> fewer lookups; the vnode to release if the node died, else null.</summary>
    public Vnode? Forget(ulong id, ulong count)
    {
        lock (_lock)
        {
            if (id == RootId || !_byId.TryGetValue(id, out Node? n)) return null;
            n.Lookups = count >= n.Lookups ? 0 : n.Lookups - count;
            if (n.Lookups != 0) return null;
            _byId.Remove(id);
            _byVnode.Remove(n.Vp);
            return n.Vp;
        }
    }

    /// <summary>Empties the table (at shutdown): every vnode reference it held, the root's included.</summary>
    public List<Vnode> Clear()
    {
        lock (_lock)
        {
            var l = new List<Vnode>(_byId.Count);
            foreach (Node n in _byId.Values) l.Add(n.Vp);
            _byId.Clear();
            _byVnode.Clear();
            return l;
        }
    }

    /// <summary>The number of live nodes, the root included (tests and -d).</summary>
    public int Count { get { lock (_lock) return _byId.Count; } }
}
