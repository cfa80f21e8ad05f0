using System;

namespace Rump.Kern;

/// <summary>
/// The file-system names of AF_LOCAL sockets, as a service the VFS faction publishes and the net
/// faction's local domain uses (NetBSD's uipc_usrreq.c calls namei and VOP_CREATE directly; here
/// the factions stay layered, so the net faction depends on the base only). A node is an opaque
/// handle with reference identity: the same path yields the same node while it exists.
/// Without a VFS, bind on a path gives EOPNOTSUPP and connect ECONNREFUSED.
/// </summary>
public interface ILocalSockNames
{
    /// <summary>
    /// Creates a socket node at <paramref name="path"/> (relative to the caller's current
    /// directory, mode 0777 less the umask) and returns it held. EADDRINUSE if the name exists.
    /// </summary>
    int Bind(Lwp l, ReadOnlySpan<byte> path, out object? node);

    /// <summary>Finds the socket node at <paramref name="path"/>, held; ENOTSOCK if the name is not a socket.</summary>
    int Lookup(Lwp l, ReadOnlySpan<byte> path, out object? node);

    /// <summary>Drops a hold taken by <see cref="Bind"/> or <see cref="Lookup"/>.</summary>
    void Release(object node);
}
