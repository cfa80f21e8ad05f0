/*
 * rsysctl.h: sysctl by name for the C tests, as NetBSD's libc does it over rump_sys___sysctl:
 * CTL_QUERY lists a directory's children, nametomib resolves a dotted name one component at a
 * time, sysctlbyname reads and writes by name. Include after rtest.h.
 */
#ifndef RSYSCTL_H
#define RSYSCTL_H

/* CTL_QUERY on mib[0..len): the children into nodes (at most max); their count or -1. */
static inline int
query(const int *mib, unsigned len, struct rump_sysctlnode *nodes, int max)
{
	int q[RUMP_CTL_MAXNAME];
	struct rump_sysctlnode qnode;
	size_t sz = (size_t)max * sizeof *nodes;

	memcpy(q, mib, len * sizeof(int));
	q[len] = RUMP_CTL_QUERY;
	memset(&qnode, 0, sizeof qnode);
	qnode.sysctl_flags = RUMP_SYSCTL_VERSION;
	if (rump_sys___sysctl(q, len + 1, nodes, &sz, &qnode, sizeof qnode) == -1)
		return -1;
	return (int)(sz / sizeof *nodes);
}

/* NetBSD's sysctlnametomib: one CTL_QUERY per dotted component. */
static inline int
nametomib(const char *name, int *mib, unsigned *len)
{
	struct rump_sysctlnode nodes[64];
	char buf[256], *part, *save;

	snprintf(buf, sizeof buf, "%s", name);
	*len = 0;
	for (part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
		int n = query(mib, *len, nodes, 64), i;
		if (n == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (strcmp(nodes[i].sysctl_name, part) == 0)
				break;
		if (i == n) {
			errno = ENOENT;
			return -1;
		}
		mib[(*len)++] = nodes[i].sysctl_num;
	}
	return 0;
}

/* NetBSD's sysctlbyname. */
static inline int
sysctlbyname(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned len;

	if (nametomib(name, mib, &len) == -1)
		return -1;
	return rump_sys___sysctl(mib, len, oldp, oldlenp, newp, newlen);
}

#endif /* RSYSCTL_H */
