/*
 * rsysctl.h: sysctl by name over rump_sys___sysctl, as NetBSD's libc does it, for the project's
 * C programs (rumpctl) and the C tests: CTL_QUERY lists a directory's children, rsysctl_lookup
 * resolves a dotted name one component at a time, rsysctl_byname reads and writes by name.
 * Needs <rump/rump.h>, <rump/rump_syscalls.h>, <errno.h>, <stdio.h>, <stdlib.h>, <string.h>.
 */
#ifndef RSYSCTL_H
#define RSYSCTL_H

/* Children read per directory: kern has about 60; room to grow. */
#define RSYSCTL_MAXCHILDREN 256

/* CTL_QUERY on mib[0..len): the children into nodes (at most max); their count or -1. */
static inline int
rsysctl_query(const int *mib, unsigned len, struct rump_sysctlnode *nodes, int max)
{
	int q[RUMP_CTL_MAXNAME];
	struct rump_sysctlnode qnode;
	size_t sz = (size_t)max * sizeof *nodes;

	if (len >= RUMP_CTL_MAXNAME) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(q, mib, len * sizeof(int));
	q[len] = RUMP_CTL_QUERY;
	memset(&qnode, 0, sizeof qnode);
	qnode.sysctl_flags = RUMP_SYSCTL_VERSION;
	if (rump_sys___sysctl(q, len + 1, nodes, &sz, &qnode, sizeof qnode) == -1)
		return -1;
	return (int)(sz / sizeof *nodes);
}

/*
 * NetBSD's sysctlnametomib, one CTL_QUERY per dotted component; also the leaf's node when node is
 * not NULL. An empty name or an unknown component is ENOENT.
 */
static inline int
rsysctl_lookup(const char *name, int *mib, unsigned *len, struct rump_sysctlnode *node)
{
	struct rump_sysctlnode *nodes = malloc(RSYSCTL_MAXCHILDREN * sizeof *nodes);
	char buf[256], *part, *save;
	int rv = 0;

	if (nodes == NULL)
		return -1;
	snprintf(buf, sizeof buf, "%s", name);
	*len = 0;
	for (part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
		int n = rsysctl_query(mib, *len, nodes, RSYSCTL_MAXCHILDREN), i;

		if (n == -1) {
			rv = -1;
			break;
		}
		for (i = 0; i < n && strcmp(nodes[i].sysctl_name, part) != 0; i++)
			continue;
		if (i == n) {
			errno = ENOENT;
			rv = -1;
			break;
		}
		if (node != NULL)
			*node = nodes[i];
		mib[(*len)++] = nodes[i].sysctl_num;
	}
	free(nodes);
	if (rv == 0 && *len == 0) {
		errno = ENOENT;
		rv = -1;
	}
	return rv;
}

/* NetBSD's sysctlbyname. */
static inline int
rsysctl_byname(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned len;

	if (rsysctl_lookup(name, mib, &len, NULL) == -1)
		return -1;
	return rump_sys___sysctl(mib, len, oldp, oldlenp, newp, newlen);
}

#endif /* RSYSCTL_H */
