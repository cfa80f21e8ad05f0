using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using NUnit.Framework;

namespace Rump.Tests;

/// <summary>
/// The anykernel rule: the kernel and its drivers reach the host only through the hypercall
/// interface (Rump.Hypercall). Checked on the compiled assemblies' metadata: every type and member
/// they reference from other assemblies, their P/Invoke declarations and their assembly references.
/// </summary>
public class HostAccessRuleTests
{
    private static readonly Assembly[] KernelAssemblies =
    {
        typeof(Rump.Kern.Kernel).Assembly,
        typeof(Rump.Vfs.Vfs).Assembly,
        typeof(Rump.Dev.Autoconf).Assembly,
        typeof(Rump.Net.Net).Assembly,
        typeof(Rump.Fs.Tmpfs.TmpfsComponent).Assembly,
        typeof(Rump.Fs.Msdosfs.MsdosfsComponent).Assembly,
        typeof(Rump.Fs.Ext2fs.Ext2fsComponent).Assembly,
        typeof(Rump.Fs.Cd9660.Cd9660Component).Assembly,
    };

    /// <summary>Types whose every use is host access: files, threads, timers, the `lock` statement, console, environment, sockets, processes, wall time.</summary>
    private static readonly HashSet<string> BannedTypes = new(StringComparer.Ordinal)
    {
        "System.IO.File", "System.IO.Directory", "System.IO.FileStream", "System.IO.FileInfo", "System.IO.DirectoryInfo",
        "System.IO.FileSystemInfo", "System.IO.RandomAccess",
        "System.Threading.Thread", "System.Threading.Timer", "System.Threading.ThreadPool",
        "System.Threading.Tasks.Task", "System.Threading.Tasks.Task`1", "System.Threading.Tasks.TaskFactory", "System.Threading.Tasks.Parallel",
        // The `lock` statement: Monitor on objects, System.Threading.Lock since C# 13.
        "System.Threading.Monitor", "System.Threading.Lock",
        // Host blocking primitives that sleep without the hypercall layer giving up the virtual CPU.
        "System.Threading.SemaphoreSlim", "System.Threading.Semaphore", "System.Threading.Mutex",
        "System.Threading.ManualResetEvent", "System.Threading.ManualResetEventSlim", "System.Threading.AutoResetEvent",
        "System.Threading.ReaderWriterLockSlim", "System.Threading.Barrier", "System.Threading.CountdownEvent",
        "System.Console", "System.Environment",
        "System.Diagnostics.Process", "System.Diagnostics.Stopwatch",
        "System.Runtime.InteropServices.NativeLibrary",
    };

    /// <summary>Namespaces whose every type is host access.</summary>
    private static readonly string[] BannedNamespaces = { "System.Net.Sockets" };

    /// <summary>Single members of otherwise allowed types.</summary>
    private static readonly HashSet<string> BannedMembers = new(StringComparer.Ordinal)
    {
        "System.DateTime.get_Now", "System.DateTime.get_UtcNow", "System.DateTime.get_Today",
        "System.DateTimeOffset.get_Now", "System.DateTimeOffset.get_UtcNow",
    };

    private static bool IsBannedType(string fullName)
        => BannedTypes.Contains(fullName) || BannedNamespaces.Any(ns => fullName.StartsWith(ns + ".", StringComparison.Ordinal));

    /// <summary>Metadata of an assembly file, kept open for the test.</summary>
    private sealed class Meta : IDisposable
    {
        private readonly PEReader _pe;
        public readonly MetadataReader R;
        public readonly string Name;

        public Meta(Assembly a)
        {
            Name = a.GetName().Name!;
            _pe = new PEReader(File.OpenRead(a.Location));
            R = _pe.GetMetadataReader();
        }

        public void Dispose() => _pe.Dispose();

        public string TypeName(TypeReferenceHandle h)
        {
            TypeReference t = R.GetTypeReference(h);
            string name = R.GetString(t.Name);
            if (t.ResolutionScope.Kind == HandleKind.TypeReference)
                return TypeName((TypeReferenceHandle)t.ResolutionScope) + "+" + name;
            string ns = R.GetString(t.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }

        /// <summary>The type a member reference belongs to (the generic definition for an instantiation), or null.</summary>
        public string? ParentTypeName(MemberReference m)
        {
            switch (m.Parent.Kind)
            {
                case HandleKind.TypeReference:
                    return TypeName((TypeReferenceHandle)m.Parent);
                case HandleKind.TypeSpecification:
                    TypeSpecification ts = R.GetTypeSpecification((TypeSpecificationHandle)m.Parent);
                    return ts.DecodeSignature(new GenericDefinitionName(this), null);
                default:
                    return null; // a member of this assembly's own types or a vararg call site
            }
        }

        /// <summary>Every external type referenced, with the members referenced on it ("(type)" if none).</summary>
        public IEnumerable<(string type, string member)> References()
        {
            var withMembers = new HashSet<string>(StringComparer.Ordinal);
            foreach (MemberReferenceHandle h in R.MemberReferences)
            {
                MemberReference m = R.GetMemberReference(h);
                string? parent = ParentTypeName(m);
                if (parent == null) continue;
                withMembers.Add(parent);
                yield return (parent, R.GetString(m.Name));
            }
            foreach (TypeReferenceHandle h in R.TypeReferences)
            {
                string t = TypeName(h);
                if (!withMembers.Contains(t)) yield return (t, "(type)");
            }
        }
    }

    /// <summary>Decodes a TypeSpec far enough to name the type it instantiates.</summary>
    private sealed class GenericDefinitionName : ISignatureTypeProvider<string, object?>
    {
        private readonly Meta _m;
        public GenericDefinitionName(Meta m) { _m = m; }
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => genericType;
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => _m.TypeName(handle);
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            TypeDefinition d = reader.GetTypeDefinition(handle);
            return reader.GetString(d.Namespace) + "." + reader.GetString(d.Name);
        }
        public string GetTypeFromSpecification(MetadataReader reader, object? ctx, TypeSpecificationHandle handle, byte rawTypeKind) => "(typespec)";
        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[,]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetPinnedType(string elementType) => elementType;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetFunctionPointerType(MethodSignature<string> signature) => "(fnptr)";
        public string GetGenericMethodParameter(object? ctx, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? ctx, int index) => "!" + index;
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
    }

    private static List<string> Violations(Meta m)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach ((string type, string member) in m.References())
        {
            if (IsBannedType(type) || BannedMembers.Contains(type + "." + member))
                found.Add(m.Name + " uses " + type + (member == "(type)" ? " (type reference)" : "." + member));
        }
        return found.ToList();
    }

    private static List<string> PInvokes(Meta m)
    {
        var found = new List<string>();
        foreach (TypeDefinitionHandle th in m.R.TypeDefinitions)
        {
            TypeDefinition t = m.R.GetTypeDefinition(th);
            foreach (MethodDefinitionHandle mh in t.GetMethods())
            {
                MethodDefinition md = m.R.GetMethodDefinition(mh);
                // [DllImport] (and the stubs [LibraryImport] generates) compile to pinvokeimpl methods, not custom attributes.
                if ((md.Attributes & MethodAttributes.PinvokeImpl) != 0 || !md.GetImport().Module.IsNil)
                    found.Add(m.Name + " declares P/Invoke " + m.R.GetString(t.Name) + "." + m.R.GetString(md.Name));
            }
        }
        foreach (CustomAttributeHandle ch in m.R.CustomAttributes)
        {
            CustomAttribute ca = m.R.GetCustomAttribute(ch);
            if (ca.Constructor.Kind != HandleKind.MemberReference) continue;
            string? attr = m.ParentTypeName(m.R.GetMemberReference((MemberReferenceHandle)ca.Constructor));
            if (attr is "System.Runtime.InteropServices.LibraryImportAttribute" or "System.Runtime.InteropServices.DllImportAttribute")
                found.Add(m.Name + " uses " + attr);
        }
        for (int i = 1; i <= m.R.GetTableRowCount(TableIndex.ModuleRef); i++)
            found.Add(m.Name + " references native module " + m.R.GetString(m.R.GetModuleReference(MetadataTokens.ModuleReferenceHandle(i)).Name));
        return found;
    }

    private static string[] AssemblyReferences(Meta m)
        => m.R.AssemblyReferences.Select(h => m.R.GetString(m.R.GetAssemblyReference(h).Name)).ToArray();

    /// <summary>The kernel assemblies, and every other driver (Rump.Fs.*) built next to the tests.</summary>
    public static IEnumerable<TestCaseData> Assemblies()
    {
        var all = new List<Assembly>(KernelAssemblies);
        string dir = Path.GetDirectoryName(typeof(HostAccessRuleTests).Assembly.Location)!;
        foreach (string f in Directory.GetFiles(dir, "Rump.Fs.*.dll").OrderBy(f => f, StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(f);
            if (all.All(a => a.GetName().Name != name)) all.Add(Assembly.LoadFrom(f));
        }
        return all.Select(a => new TestCaseData(a).SetArgDisplayNames(a.GetName().Name!));
    }

    [TestCaseSource(nameof(Assemblies))]
    public void NoHostApisOutsideTheHypercallLayer(Assembly a)
    {
        using var m = new Meta(a);
        Assert.That(Violations(m), Is.Empty, "host access outside the hypercall interface");
    }

    [TestCaseSource(nameof(Assemblies))]
    public void NoPInvokeOutsideTheHypercallLayer(Assembly a)
    {
        using var m = new Meta(a);
        Assert.That(PInvokes(m), Is.Empty, "P/Invoke outside Rump.Hypercall");
    }

    /// <summary>The scanner itself: it must see what is there, or the rule tests above prove nothing.</summary>
    [Test]
    public void ScannerSeesPInvokesAndReferences()
    {
        using (var hyp = new Meta(typeof(Rump.Hypercall.RumpUser).Assembly))
            Assert.That(PInvokes(hyp).Any(s => s.Contains("rumpuser_curlwp")), Is.True, "the P/Invoke scan finds rumpuser_curlwp in Rump.Hypercall");
        using (var kern = new Meta(typeof(Rump.Kern.Kernel).Assembly))
        {
            var refs = kern.References().ToList();
            Assert.That(refs, Does.Contain(("System.Threading.Interlocked", "CompareExchange")), "member references are read");
            Assert.That(refs.Any(r => r.type.StartsWith("System.Collections.Generic.Dictionary`2", StringComparison.Ordinal)), Is.True, "generic instantiations are named");
        }
        using (var self = new Meta(typeof(HostAccessRuleTests).Assembly))
        {
            List<string> v = Violations(self);
            Assert.That(v, Does.Contain("Rump.Tests uses System.IO.File.OpenRead"), "a banned member is reported with its type");
            Assert.That(v.Any(s => s.Contains("System.Threading.Thread")), Is.True, "the tests' own threads are found");
        }
    }

    [Test]
    public void LayersReferenceOnlyDownward()
    {
        using var kern = new Meta(typeof(Rump.Kern.Kernel).Assembly);
        using var vfs = new Meta(typeof(Rump.Vfs.Vfs).Assembly);
        using var tmpfs = new Meta(typeof(Rump.Fs.Tmpfs.TmpfsComponent).Assembly);
        using var net = new Meta(typeof(Rump.Net.Net).Assembly);
        using var dev = new Meta(typeof(Rump.Dev.Autoconf).Assembly);
        string[] k = AssemblyReferences(kern), v = AssemblyReferences(vfs), t = AssemblyReferences(tmpfs);
        string[] n = AssemblyReferences(net), d = AssemblyReferences(dev);
        Assert.That(k, Has.None.EqualTo("Rump.Vfs"), "Rump.Kern references Rump.Vfs");
        Assert.That(k, Has.None.StartsWith("Rump.Fs."), "Rump.Kern references a driver");
        Assert.That(v, Has.None.StartsWith("Rump.Fs."), "Rump.Vfs references a driver");
        // The factions stand side by side on the base: none references another.
        foreach ((string name, string[] refs) in new[] { ("Rump.Vfs", v), ("Rump.Net", n), ("Rump.Dev", d) })
            Assert.That(refs.Where(r => r is "Rump.Vfs" or "Rump.Net" or "Rump.Dev" && r != name), Is.Empty, name + " references another faction");
        // Nothing below the API layer knows about it.
        foreach ((string name, string[] refs) in new[] { ("Rump.Kern", k), ("Rump.Vfs", v), ("Rump.Net", n), ("Rump.Dev", d), ("Rump.Fs.Tmpfs", t) })
            Assert.That(refs, Has.None.EqualTo("Rump"), name + " references the API/C ABI layer (Rump)");
        Assert.That(k, Does.Contain("Rump.Hypercall"), "Rump.Kern reaches the host through Rump.Hypercall");
    }
}
