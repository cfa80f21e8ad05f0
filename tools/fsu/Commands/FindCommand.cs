using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// fsu find [PATH] [-name GLOB] [-type f|d|l]: pre-order, names in byte order, symbolic links not
/// followed; a directory that is its own ancestor is printed, reported and not entered.
/// </summary>
internal static class FindCommand
{
    public static int Run(Context ctx, Args a)
    {
        string start = "/";
        string? glob = null;
        char type = '\0';
        var ops = a.Operands;
        for (int i = 0; i < ops.Count; i++)
        {
            if (ops[i] == "-name") glob = ops[++i];
            else if (ops[i] == "-type")
            {
                string t = ops[++i];
                if (t is not ("f" or "d" or "l")) { ctx.Err.WriteLine("fsu: find: -type: unknown type '" + t + "' (f, d or l)"); return Fsu.Usage; }
                type = t[0];
            }
            else if (i == 0) start = ops[i];
            else { ctx.Err.WriteLine("fsu: find: unexpected argument '" + ops[i] + "'"); return Fsu.Usage; }
        }
        return ctx.WithImage(false, s =>
        {
            string kp = ImageSession.KPath(start);
            int e = s.Lstat(kp, out RumpStat st);
            if (e < 0) return ctx.Fail(start, -e);
            return Walk(ctx, s, start, kp, st, glob, type, new Ancestors());
        });
    }

    private static int Walk(Context ctx, ImageSession s, string path, string kp, in RumpStat st, string? glob, char type, Ancestors ancestors)
    {
        char t = ImageSession.IsDir(st) ? 'd' : ImageSession.IsLink(st) ? 'l' : ImageSession.IsReg(st) ? 'f' : '?';
        string name = ImageSession.BaseName(path);
        if ((type == '\0' || type == t) && (glob == null || Glob.Match(glob, name.Length == 0 ? "/" : name)))
            ctx.Out.WriteLine(ImageSession.Printable(path));
        if (t != 'd') return 0;
        if (!ancestors.Enter(ctx, path, st)) return Fsu.Failed;
        try
        {
            return DirWalk.Children(ctx, s, path, kp, (_, cp, ckp, cst) => Walk(ctx, s, cp, ckp, cst, glob, type, ancestors));
        }
        finally { ancestors.Leave(st); }
    }
}

/// <summary>fnmatch(3) without flags: '*', '?', and bracket expressions ("[a-z]", "[!0-9]").</summary>
internal static class Glob
{
    public static bool Match(ReadOnlySpan<char> pat, ReadOnlySpan<char> s)
    {
        // Iterative with one backtrack point for the last '*': linear enough for file names.
        int p = 0, i = 0, starP = -1, starI = 0;
        while (i < s.Length)
        {
            if (p < pat.Length && pat[p] == '*') { starP = ++p; starI = i; continue; }
            if (p < pat.Length && MatchOne(pat, ref p, s[i])) { i++; continue; }
            if (starP < 0) return false;
            p = starP; i = ++starI;
        }
        while (p < pat.Length && pat[p] == '*') p++;
        return p == pat.Length;
    }

    /// <summary>Whether the pattern element at <paramref name="p"/> matches <paramref name="c"/>; advances past it on a match.</summary>
    private static bool MatchOne(ReadOnlySpan<char> pat, ref int p, char c)
    {
        if (pat[p] == '?') { p++; return true; }
        if (pat[p] == '[')
        {
            int j = p + 1;
            bool neg = j < pat.Length && (pat[j] == '!' || pat[j] == '^');
            if (neg) j++;
            bool hit = false;
            int first = j;
            while (j < pat.Length && (pat[j] != ']' || j == first))
            {
                if (j + 2 < pat.Length && pat[j + 1] == '-' && pat[j + 2] != ']') { hit |= c >= pat[j] && c <= pat[j + 2]; j += 3; }
                else { hit |= c == pat[j]; j++; }
            }
            if (j >= pat.Length) { if (c != '[') return false; p++; return true; } // no ']': a literal '['
            if (hit == neg) return false;
            p = j + 1;
            return true;
        }
        if (pat[p] == '\\' && p + 1 < pat.Length) { if (pat[p + 1] != c) return false; p += 2; return true; }
        if (pat[p] != c) return false;
        p++;
        return true;
    }
}
