namespace Rump.Kern;

/// <summary>
/// Credentials (NetBSD kauth_cred_t). Immutable: changing an id makes a new object, so a credential
/// can be read by any lwp of the process without a lock and held across a system call.
/// </summary>
public sealed class Cred
{
    public readonly uint Uid, Euid, Svuid;
    public readonly uint Gid, Egid, Svgid;
    private readonly uint[] _groups;

    public static readonly Cred Root = new Cred(0, 0, 0, 0, 0, 0, System.Array.Empty<uint>());

    public Cred(uint uid, uint euid, uint svuid, uint gid, uint egid, uint svgid, uint[] groups)
    {
        Uid = uid; Euid = euid; Svuid = svuid;
        Gid = gid; Egid = egid; Svgid = svgid;
        _groups = groups;
    }

    public static Cred Make(uint uid, uint gid, params uint[] groups) => new Cred(uid, uid, uid, gid, gid, gid, groups);

    public System.ReadOnlySpan<uint> Groups => _groups;
    public bool IsRoot => Euid == 0;

    /// <summary>Is <paramref name="gid"/> the effective group or one of the supplementary groups?</summary>
    public bool IsMember(uint gid)
    {
        if (Egid == gid) return true;
        foreach (uint g in _groups)
            if (g == gid) return true;
        return false;
    }

    public Cred WithUid(uint uid) => new Cred(uid, uid, uid, Gid, Egid, Svgid, _groups);
    public Cred WithEuid(uint euid) => new Cred(Uid, euid, Svuid, Gid, Egid, Svgid, _groups);
    public Cred WithGid(uint gid) => new Cred(Uid, Euid, Svuid, gid, gid, gid, _groups);
    public Cred WithEgid(uint egid) => new Cred(Uid, Euid, Svuid, Gid, egid, Svgid, _groups);
    public Cred WithGroups(uint[] groups) => new Cred(Uid, Euid, Svuid, Gid, Egid, Svgid, groups);
}
