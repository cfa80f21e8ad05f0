using System.Runtime.InteropServices;

namespace Rump.Kern;

// NetBSD's struct sysctlnode (sys/sys/sysctl.h, SYSCTL_VERSION 1) as rumpdefs.master's
// struct rump_sysctlnode declares it: what CTL_QUERY returns for each child and what CTL_CREATE
// and CTL_DESTROY take. NetBSD pads every pointer and size_t to 64 bits (__sysc_pad); here they
// are plain 64-bit fields whose pointer values clients never dereference (the kernel hands out 0).
// tests/Rump.Tests/AbiLayoutTests.cs checks every size and offset against the generated header.

[StructLayout(LayoutKind.Sequential)]
public struct RumpSysctlnodeChild
{
    public uint suc_csize;
    public uint suc_clen;
    public ulong suc_child;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpSysctlnodeData
{
    public ulong sud_data;
    public ulong sud_offset;
}

/// <summary>union rump_sysctlnode_un: children of a directory, a leaf's data, or its immediate value.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct RumpSysctlnodeUn
{
    [FieldOffset(0)] public RumpSysctlnodeChild scu_child;
    [FieldOffset(0)] public RumpSysctlnodeData scu_data;
    [FieldOffset(0)] public int scu_alias;
    [FieldOffset(0)] public int scu_idata;
    [FieldOffset(0)] public ulong scu_qdata;
    [FieldOffset(0)] public byte scu_bdata;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpSysctlnode
{
    /// <summary>CTLTYPE_* | CTLFLAG_* | SYSCTL_VERSION.</summary>
    public uint sysctl_flags;
    public int sysctl_num;
    public fixed byte sysctl_name[Sysctl.NameLen];
    public uint sysctl_ver;
    public uint __rsvd;
    public RumpSysctlnodeUn sysctl_un;
    public ulong sysctl_size;
    public ulong sysctl_func;
    public ulong sysctl_parent;
    public ulong sysctl_desc;
}

internal static class SysctlNodeAbi
{
    /// <summary>sizeof(struct sysctlnode) on amd64: also a directory's sysctl_size.</summary>
    public const int Size = 96;
}
