using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>Component ordering at boot: dependencies first, and clear reasons for a missing one or a cycle.</summary>
public class ComponentTests : KernelTest
{
    private sealed class Fake : IComponent
    {
        private readonly List<string>? _log;
        public Fake(string name, string[] requires, List<string>? log = null) { Name = name; Requires = requires; _log = log; }
        public string Name { get; }
        public string[] Requires { get; }
        public void Init(Kernel k) => _log?.Add(Name);
        public void Shutdown(Kernel k, bool sync) { }
    }

    private static Fake C(string name, params string[] requires) => new(name, requires);

    private static string[] Order(params IComponent[] comps)
    {
        IComponent[]? order = Kernel.OrderComponents(comps, out string? why);
        Assert.That(order, Is.Not.Null, "OrderComponents failed: " + why);
        return order!.Select(c => c.Name).ToArray();
    }

    [Test]
    public void DependenciesComeFirst()
    {
        string[] order = Order(C("tmpfs", "vfs"), C("net"), C("vfs"), C("nfs", "vfs", "net"));
        Assert.That(order, Has.Length.EqualTo(4));
        Assert.That(order, Is.Unique);
        Assert.That(Array.IndexOf(order, "vfs"), Is.LessThan(Array.IndexOf(order, "tmpfs")), "order " + string.Join(",", order));
        Assert.That(Array.IndexOf(order, "vfs"), Is.LessThan(Array.IndexOf(order, "nfs")), "order " + string.Join(",", order));
        Assert.That(Array.IndexOf(order, "net"), Is.LessThan(Array.IndexOf(order, "nfs")), "order " + string.Join(",", order));
    }

    [Test]
    public void ChainInReverseIsSorted()
    {
        Assert.That(Order(C("d", "c"), C("c", "b"), C("b", "a"), C("a")), Is.EqualTo(new[] { "a", "b", "c", "d" }));
        Assert.That(Order(), Is.Empty);
    }

    [Test]
    public void MissingDependencyIsReported()
    {
        IComponent[]? order = Kernel.OrderComponents(new IComponent[] { C("vfs"), C("tmpfs", "vfs", "uvm") }, out string? why);
        Assert.That(order, Is.Null);
        Assert.That(why, Does.Contain("tmpfs").And.Contain("uvm"), "the reason names the component and what it lacks");
    }

    [Test]
    public void CycleIsReported()
    {
        IComponent[]? order = Kernel.OrderComponents(new IComponent[] { C("a", "b"), C("b", "c"), C("c", "a") }, out string? why);
        Assert.That(order, Is.Null);
        Assert.That(why, Does.Contain("cycle"));
        order = Kernel.OrderComponents(new IComponent[] { C("self", "self") }, out why);
        Assert.That(order, Is.Null, "a component requiring itself");
        Assert.That(why, Does.Contain("cycle").And.Contain("self"));
    }

    [Test]
    public void BootInitialisesInDependencyOrderAndRefusesABadTable()
    {
        var log = new List<string>();
        var cfg = new KernelConfig
        {
            Ncpu = 1,
            Components = new IComponent[] { new Fake("top", ["mid"], log), new Fake("mid", ["base"], log), new Fake("base", [], log) },
        };
        Assert.That(Kernel.Boot(cfg, out Kernel? k, out string? why), Is.EqualTo(0), why);
        Assert.That(log, Is.EqualTo(new[] { "base", "mid", "top" }), "Init order");
        Assert.That(k!.HasComponent("mid"), Is.True);
        Assert.That(k.HasComponent("vfs"), Is.False);

        cfg.Components = new IComponent[] { new Fake("x", ["missing"]) };
        Assert.That(Kernel.Boot(cfg, out Kernel? bad, out why), Is.EqualTo(Abi.EINVAL));
        Assert.That(bad, Is.Null);
        Assert.That(why, Does.Contain("missing"));
    }
}
