using System.Collections.Generic;

namespace Rump.Kern;

/// <summary>
/// A process: pid, parent, credentials, descriptor table, umask, and the per-faction data that
/// factions above the base attach through <see cref="ProcSpecific"/> slots (the VFS keeps the
/// current and root directories there, as NetBSD's cwdinfo).
///
/// Locks: <see cref="Lock"/> protects <see cref="_lwps"/> and the specific slots. <see cref="Cred"/>
/// is an immutable object replaced whole (a reference write), so readers need no lock.
/// </summary>
public sealed class Proc
{
    public readonly Kernel Kernel;
    public readonly int Pid;
    public Proc? Parent { get; internal set; }
    private volatile Cred _cred;
    public Cred Cred { get => _cred; set => _cred = value; }
    public readonly Filedesc Fd;
    public readonly Vmspace Vmspace;
    /// <summary>The command name (NetBSD p_comm): a remote client's at its handshake and exec, else the parent's.</summary>
    public volatile string Comm = "";
    /// <summary>File creation mask; only the process's own lwps change it.</summary>
    public uint Umask = 0x12; // 022
    internal readonly KMutex Lock;
    internal readonly List<Lwp> _lwps = new();
    private readonly object?[] _specific;
    private int _nextLid = 1;
    internal bool Exiting;
    /// <summary>Signals recorded for the process (RECORD model): signal n is bit n - 1.</summary>
    internal ulong SigPending;

    internal Proc(Kernel k, int pid, Proc? parent, Cred cred, Filedesc fd, Vmspace vm)
    {
        Kernel = k; Pid = pid; Parent = parent; _cred = cred; Fd = fd; Vmspace = vm;
        Lock = new KMutex(k);
        _specific = new object?[Kernel.MaxProcSpecific];
    }

    internal int NextLid() => _nextLid++;

    public int LwpCount { get { Lock.Enter(); int n = _lwps.Count; Lock.Exit(); return n; } }

    public object? GetSpecific(ProcSpecificKey key) => _specific[key.Index];
    public void SetSpecific(ProcSpecificKey key, object? value) => _specific[key.Index] = value;

    public override string ToString() => "proc " + Pid;
}

/// <summary>A slot in every process reserved by one faction (NetBSD proc_specific_key_create).</summary>
public readonly struct ProcSpecificKey
{
    public readonly int Index;
    internal ProcSpecificKey(int i) { Index = i; }
}

/// <summary>What a faction does when a process is forked or exits (its proc-specific data).</summary>
public interface IProcHooks
{
    void Fork(Proc parent, Proc child, int flags);
    void Exit(Proc p);
}
