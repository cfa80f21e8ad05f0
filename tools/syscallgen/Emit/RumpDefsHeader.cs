namespace Rump.SyscallGen;

/// <summary>aot/include/rump/rumpdefs.h: RUMP_ constants by group, the structures, their size checks.</summary>
internal static class RumpDefsHeader
{
    public static string Emit(AbiTable abi)
    {
        var c = new Code()
            .Line(Code.CBanner(Program.AbiTablePath))
            .Line()
            .Line("/*")
            .Line(" * The constants and structures a rump kernel client shares with the kernel, with NetBSD's")
            .Line(" * (amd64) values and layouts under RUMP_ and rump_ names, so that they never clash with the")
            .Line(" * host's.")
            .Line(" */")
            .Line("#ifndef _RUMP_RUMPDEFS_H_")
            .Line("#define _RUMP_RUMPDEFS_H_")
            .Line()
            .Line("#include <stddef.h>")
            .Line("#include <stdint.h>");

        string? group = null;
        foreach (AbiConstant k in abi.Constants)
        {
            if (k.Group != group)
            {
                group = k.Group;
                c.Line().Line("/* " + group + " */");
            }
            string value = k.Value < 0 ? "(" + k.Literal + ")" : k.Literal;
            c.Line("#define " + ("RUMP_" + k.Name).PadRight(31) + " " + value);
        }

        c.Line().Raw(abi.StructsText);
        if (abi.Sizes.Count > 0)
        {
            c.Line().Line("/* Sizes in NetBSD amd64: a mismatch here means the layout above is wrong. */");
            c.Line("#ifndef __cplusplus");
            foreach (StructSize s in abi.Sizes)
                c.Line("_Static_assert(sizeof(struct " + s.Struct + ") == " + s.Size + ", \"struct " + s.Struct + " must match NetBSD amd64\");");
            c.Line("#endif");
        }
        return c.Line().Line("#endif /* !_RUMP_RUMPDEFS_H_ */").ToString();
    }
}
