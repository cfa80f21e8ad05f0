using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// The directories a recursive command is inside, by (device, inode), as fts(3) keeps them. A
/// damaged image can hold an entry that names one of its own ancestors; walking into it would
/// never end. Such a directory is reported ("directory causes a cycle", fts's words), counted as
/// an error and not entered, and the walk goes on with the next name.
/// </summary>
internal sealed class Ancestors
{
    private readonly HashSet<(ulong dev, ulong ino)> _inside = new();

    /// <summary>Enters directory <paramref name="path"/>; false, reported, if the walk is already inside it.</summary>
    public bool Enter(Context ctx, string path, in RumpStat st)
    {
        if (_inside.Add((st.st_dev, st.st_ino))) return true;
        ctx.Fail(path, "directory causes a cycle");
        return false;
    }

    /// <summary>The same, for a walk that only measures and reports nothing.</summary>
    public bool EnterQuietly(in RumpStat st) => _inside.Add((st.st_dev, st.st_ino));

    public void Leave(in RumpStat st) => _inside.Remove((st.st_dev, st.st_ino));
}
