/*
 * Dynamic sysctl through the C ABI, the way NetBSD's libc uses it: names resolved to MIBs with
 * CTL_QUERY (sysctlnametomib), values read and written by MIB and by name (sysctlbyname), and
 * nodes made and removed with CTL_CREATE and CTL_DESTROY (sysctl(8)'s //create and //destroy).
 */
#include "rtest.h"
#include "rsysctl.h"

static struct rump_sysctlnode
node(const char *name, int num, uint32_t typeflags)
{
	struct rump_sysctlnode n;

	memset(&n, 0, sizeof n);
	n.sysctl_flags = RUMP_SYSCTL_VERSION | typeflags;
	n.sysctl_num = num;
	snprintf(n.sysctl_name, sizeof n.sysctl_name, "%s", name);
	return n;
}

static void
test_names(void)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned len;
	char buf[64];
	size_t sz;
	int v;

	EXPECT_OK(rsysctl_lookup("kern.hostname", mib, &len, NULL));
	EXPECT_EQ(len, 2);
	EXPECT_EQ(mib[0], RUMP_CTL_KERN);
	EXPECT_EQ(mib[1], RUMP_KERN_HOSTNAME);
	EXPECT_OK(rsysctl_lookup("kern.msgbuf", mib, &len, NULL));
	EXPECT_EQ(mib[1], RUMP_KERN_MSGBUF);
	EXPECT_OK(rsysctl_lookup("hw.ncpu", mib, &len, NULL));
	EXPECT_EQ(mib[0], RUMP_CTL_HW);
	EXPECT_EQ(mib[1], RUMP_HW_NCPU);
	EXPECT_ERR(rsysctl_lookup("kern.nosuchnode", mib, &len, NULL), ENOENT);

	sz = sizeof buf;
	EXPECT_OK(rsysctl_byname("kern.ostype", buf, &sz, NULL, 0));
	EXPECT_STR(buf, "NetBSD");
	sz = sizeof v;
	EXPECT_OK(rsysctl_byname("hw.ncpu", &v, &sz, NULL, 0));
	CHECK(v >= 1, "hw.ncpu: expected at least 1, got %d", v);

	/* The query's own errors. */
	int q[2] = { RUMP_CTL_KERN, RUMP_CTL_QUERY };
	struct rump_sysctlnode qn = node("", 0, 0);
	sz = 0;
	EXPECT_ERR(rump_sys___sysctl(q, 2, NULL, &sz, NULL, 0), EINVAL);
	qn.sysctl_flags = 0; /* SYSCTL_VERS_0 */
	EXPECT_ERR(rump_sys___sysctl(q, 2, NULL, &sz, &qn, sizeof qn), EINVAL);
	int leafq[3] = { RUMP_CTL_KERN, RUMP_KERN_OSTYPE, RUMP_CTL_QUERY };
	qn.sysctl_flags = RUMP_SYSCTL_VERSION;
	EXPECT_ERR(rump_sys___sysctl(leafq, 3, NULL, &sz, &qn, sizeof qn), ENOTDIR);
}

static void
test_create_destroy(void)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned len;
	struct rump_sysctlnode n, out;
	size_t sz;
	int v;

	/* A directory at the top, numbered by the kernel. */
	int create[1] = { RUMP_CTL_CREATE };
	n = node("rumptest", RUMP_CTL_CREATE, RUMP_CTLTYPE_NODE | RUMP_CTLFLAG_READWRITE);
	sz = sizeof out;
	EXPECT_OK(rump_sys___sysctl(create, 1, &out, &sz, &n, sizeof n));
	EXPECT_EQ(sz, sizeof out);
	CHECK(out.sysctl_num > RUMP_CREATE_BASE, "CTL_CREATE number: expected above %d, got %d", RUMP_CREATE_BASE, out.sysctl_num);
	int dir = out.sysctl_num;

	/* An immediate int in it. */
	int dcreate[2] = { dir, RUMP_CTL_CREATE };
	n = node("answer", RUMP_CTL_CREATE, RUMP_CTLTYPE_INT | RUMP_CTLFLAG_READWRITE | RUMP_CTLFLAG_IMMEDIATE);
	n.sysctl_un.scu_idata = 42;
	sz = sizeof out;
	EXPECT_OK(rump_sys___sysctl(dcreate, 2, &out, &sz, &n, sizeof n));
	int leaf[2] = { dir, out.sysctl_num };

	/* Read by MIB and by name, write by name, read back by MIB. */
	sz = sizeof v;
	EXPECT_OK(rump_sys___sysctl(leaf, 2, &v, &sz, NULL, 0));
	EXPECT_EQ(v, 42);
	EXPECT_OK(rsysctl_lookup("rumptest.answer", mib, &len, NULL));
	EXPECT_EQ(len, 2);
	EXPECT_EQ(mib[1], leaf[1]);
	int nv = 43;
	EXPECT_OK(rsysctl_byname("rumptest.answer", NULL, NULL, &nv, sizeof nv));
	sz = sizeof v;
	EXPECT_OK(rump_sys___sysctl(leaf, 2, &v, &sz, NULL, 0));
	EXPECT_EQ(v, 43);
	short wrong = 1;
	EXPECT_ERR(rump_sys___sysctl(leaf, 2, NULL, NULL, &wrong, sizeof wrong), EINVAL);

	/* A string the kernel copies in (CTLFLAG_OWNDATA). */
	char hello[] = "hello";
	n = node("greeting", RUMP_CTL_CREATE, RUMP_CTLTYPE_STRING | RUMP_CTLFLAG_READWRITE | RUMP_CTLFLAG_OWNDATA);
	n.sysctl_un.scu_data.sud_data = (uint64_t)(uintptr_t)hello;
	n.sysctl_size = 16;
	EXPECT_OK(rump_sys___sysctl(dcreate, 2, NULL, NULL, &n, sizeof n));
	hello[0] = 'J';
	char buf[32];
	sz = sizeof buf;
	EXPECT_OK(rsysctl_byname("rumptest.greeting", buf, &sz, NULL, 0));
	EXPECT_STR(buf, "hello");
	EXPECT_OK(rsysctl_byname("rumptest.greeting", NULL, NULL, "bye", 4));
	sz = sizeof buf;
	EXPECT_OK(rsysctl_byname("rumptest.greeting", buf, &sz, NULL, 0));
	EXPECT_STR(buf, "bye");

	struct rump_sysctlnode kids[8];
	EXPECT_EQ(rsysctl_query(&dir, 1, kids, 8), 2);

	/* Errors: a taken name, a bad name, a directory that is not writable, a non-root caller. */
	n = node("answer", RUMP_CTL_CREATE, RUMP_CTLTYPE_INT | RUMP_CTLFLAG_IMMEDIATE);
	EXPECT_ERR(rump_sys___sysctl(dcreate, 2, NULL, NULL, &n, sizeof n), EEXIST);
	n = node("9lives", RUMP_CTL_CREATE, RUMP_CTLTYPE_INT | RUMP_CTLFLAG_IMMEDIATE);
	EXPECT_ERR(rump_sys___sysctl(dcreate, 2, NULL, NULL, &n, sizeof n), EINVAL);
	int kcreate[2] = { RUMP_CTL_KERN, RUMP_CTL_CREATE };
	n = node("mine", RUMP_CTL_CREATE, RUMP_CTLTYPE_INT | RUMP_CTLFLAG_IMMEDIATE);
	EXPECT_ERR(rump_sys___sysctl(kcreate, 2, NULL, NULL, &n, sizeof n), EPERM);
	struct lwp *me = rump_pub_lwproc_curlwp();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	n = node("user", RUMP_CTL_CREATE, RUMP_CTLTYPE_INT | RUMP_CTLFLAG_IMMEDIATE);
	EXPECT_ERR(rump_sys___sysctl(dcreate, 2, NULL, NULL, &n, sizeof n), EPERM);
	nv = 1;
	EXPECT_ERR(rump_sys___sysctl(leaf, 2, NULL, NULL, &nv, sizeof nv), EPERM);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(me);

	/* Destroy: not while the directory has children; a removed node is gone by MIB and name. */
	int droot[1] = { RUMP_CTL_DESTROY };
	n = node("", dir, 0);
	EXPECT_ERR(rump_sys___sysctl(droot, 1, NULL, NULL, &n, sizeof n), ENOTEMPTY);
	int ddir[2] = { dir, RUMP_CTL_DESTROY };
	n = node("answer", leaf[1], 0);
	sz = sizeof out;
	EXPECT_OK(rump_sys___sysctl(ddir, 2, &out, &sz, &n, sizeof n));
	EXPECT_STR(out.sysctl_name, "answer");
	EXPECT_ERR(rump_sys___sysctl(leaf, 2, &v, &sz, NULL, 0), ENOENT);
	EXPECT_ERR(rsysctl_lookup("rumptest.answer", mib, &len, NULL), ENOENT);
	EXPECT_OK(rsysctl_lookup("rumptest.greeting", mib, &len, NULL));
	n = node("", mib[1], 0);
	EXPECT_OK(rump_sys___sysctl(ddir, 2, NULL, NULL, &n, sizeof n));
	n = node("rumptest", dir, 0);
	EXPECT_OK(rump_sys___sysctl(droot, 1, NULL, NULL, &n, sizeof n));
	EXPECT_ERR(rsysctl_lookup("rumptest", mib, &len, NULL), ENOENT);
	/* The kernel's own nodes stay. */
	n = node("kern", RUMP_CTL_KERN, 0);
	EXPECT_ERR(rump_sys___sysctl(droot, 1, NULL, NULL, &n, sizeof n), EPERM);
}

int
main(void)
{
	rtest_init();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	test_names();
	test_create_destroy();
	return rtest_done();
}
