/*
 * rumpctl's network commands: NetBSD's ifconfig, route, ping and arp (their syntax where it
 * exists) against the rump kernel named by RUMP_SERVER.
 *
 *	ifconfig [-a] | ifconfig IF [create|destroy|up|down|inet ADDR[/PREFIX] [netmask M]|
 *	    -inet ADDR|linkstr PATH|-linkstr|mtu N]...
 *		interface ioctls on an AF_INET datagram socket (SIOCIFCREATE, SIOCSIFFLAGS,
 *		SIOCAIFADDR, SIOCDIFADDR, SIOCSLINKSTR, SIOCSIFMTU; SIOCGIFCONF to list)
 *	route add|change [-net|-host] DST[/PREFIX] GATEWAY | delete DST[/PREFIX] | get DST | show
 *		routing-socket messages (RTM_ADD/CHANGE/DELETE/GET); show reads net.route.inet.dump
 *	ping [-c count] [-i wait] ADDR
 *		ICMP echo over a raw socket, one a second by default
 *	arp -a	net.route.inet.llinfo (the ARP cache as RTF_LLINFO routing messages)
 *	netstat [-t] [-u] [-x] [-f inet|local]
 *		TCP, UDP and local sockets with their states: see cmd_netstat
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include "rsysctl.h"
#include "netcmds.h"

/* "rumpctl ifconfig: shmif0: Device not configured" */
static int
nfail(const char *cmd, const char *what)
{
	fprintf(stderr, "rumpctl %s: %s: %s\n", cmd, what, strerror(errno));
	return 1;
}

static int
nusage(void)
{
	fprintf(stderr,
	    "usage: rumpctl ifconfig [-a] | ifconfig IF [create|destroy|up|down|inet ADDR[/PREFIX] [netmask M]|\n"
	    "                                 -inet ADDR|linkstr PATH|-linkstr|mtu N]...\n"
	    "       rumpctl route add|change [-net|-host] DST[/PREFIX] GATEWAY | delete DST[/PREFIX] | get DST | show\n"
	    "       rumpctl ping [-c count] [-i wait] ADDR\n"
	    "       rumpctl arp -a\n"
	    "       rumpctl netstat [-a] [-n] [-t] [-u] [-x] [-f inet|local]\n");
	return 2;
}

static int
inetsock(void)
{
	return rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM, 0);
}

/* a.b.c.d or a.b.c.d/len; the prefix length is -1 if none was given. 0 or -1. */
static int
parse_cidr(const char *s, uint32_t *addr, int *plen)
{
	char buf[64], *slash;
	struct in_addr a;

	snprintf(buf, sizeof buf, "%s", s);
	*plen = -1;
	if ((slash = strchr(buf, '/')) != NULL) {
		char *end;
		long n = strtol(slash + 1, &end, 10);

		if (*end != '\0' || slash[1] == '\0' || n < 0 || n > 32)
			return -1;
		*plen = (int)n;
		*slash = '\0';
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = a.s_addr;
	return 0;
}

static uint32_t
plen2mask(int plen)
{
	return htonl(plen <= 0 ? 0 : 0xffffffffu << (32 - plen));
}

static int
mask2plen(uint32_t m)
{
	return __builtin_popcount(m);
}

static void
sin_set(struct rump_sockaddr_in *sin, uint32_t a)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_len = sizeof *sin;
	sin->sin_family = RUMP_AF_INET;
	sin->sin_addr = a;
}

static const char *
ntoa(uint32_t a, char *buf)
{
	struct in_addr x = { .s_addr = a };

	return inet_ntop(AF_INET, &x, buf, INET_ADDRSTRLEN);
}

/* --- ifconfig ------------------------------------------------------------------------------ */

static void
print_flags(int f)
{
	static const struct { int bit; const char *name; } names[] = {
		{ RUMP_IFF_UP, "UP" }, { RUMP_IFF_BROADCAST, "BROADCAST" }, { RUMP_IFF_DEBUG, "DEBUG" },
		{ RUMP_IFF_LOOPBACK, "LOOPBACK" }, { RUMP_IFF_POINTOPOINT, "POINTOPOINT" },
		{ RUMP_IFF_RUNNING, "RUNNING" }, { RUMP_IFF_NOARP, "NOARP" }, { RUMP_IFF_PROMISC, "PROMISC" },
		{ RUMP_IFF_SIMPLEX, "SIMPLEX" }, { RUMP_IFF_MULTICAST, "MULTICAST" },
	};
	const char *sep = "";

	printf("flags=0x%x<", f & 0xffff);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (f & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = ",";
		}
	printf(">");
}

/* SIOCGIFCONF's records, as many as the kernel has (asked for the size first). */
static struct rump_ifreq *
ifconf(int s, int *n)
{
	struct rump_ifconf ifc;
	struct rump_ifreq *r = NULL;

	for (int tries = 0; tries < 4; tries++) {
		memset(&ifc, 0, sizeof ifc);
		if (rump_sys_ioctl(s, RUMP_SIOCGIFCONF, &ifc) == -1)
			return NULL;
		int want = ifc.ifc_len + 4 * (int)sizeof *r;	/* room for a few made meanwhile */
		free(r);
		if ((r = malloc((size_t)want)) == NULL)
			return NULL;
		ifc.ifc_len = want;
		ifc.ifc_buf = r;
		if (rump_sys_ioctl(s, RUMP_SIOCGIFCONF, &ifc) == -1) {
			int e = errno;

			free(r);
			errno = e;
			return NULL;
		}
		if (ifc.ifc_len < want) {
			*n = ifc.ifc_len / (int)sizeof *r;
			return r;
		}
	}
	free(r);
	errno = EAGAIN;
	return NULL;
}

static int
show_if(int s, const char *name, const struct rump_ifreq *all, int n)
{
	struct rump_ifreq r;
	struct rump_ifdrv d;
	char buf[INET_ADDRSTRLEN], link[1100];
	int flags, mtu;

	memset(&r, 0, sizeof r);
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
	if (rump_sys_ioctl(s, RUMP_SIOCGIFFLAGS, &r) == -1)
		return nfail("ifconfig", name);
	flags = (uint16_t)r.ifr_ifru.ifru_flags;
	if (rump_sys_ioctl(s, RUMP_SIOCGIFMTU, &r) == -1)
		return nfail("ifconfig", name);
	mtu = r.ifr_ifru.ifru_mtu;
	printf("%s: ", name);
	print_flags(flags);
	printf(" mtu %d\n", mtu);
	for (int i = 0; i < n; i++) {
		const struct rump_sockaddr_dl *sdl = (const void *)&all[i].ifr_ifru.ifru_addr;

		if (strncmp(all[i].ifr_name, name, sizeof all[i].ifr_name) != 0 || sdl->sdl_family != RUMP_AF_LINK ||
		    sdl->sdl_alen != 6 || sdl->sdl_nlen + 6 > (int)sizeof sdl->sdl_data)
			continue;
		const unsigned char *m = (const unsigned char *)sdl->sdl_data + sdl->sdl_nlen;

		printf("\taddress: %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	memset(&d, 0, sizeof d);
	snprintf(d.ifd_name, sizeof d.ifd_name, "%s", name);
	d.ifd_len = sizeof link;
	d.ifd_data = link;
	if (rump_sys_ioctl(s, RUMP_SIOCGLINKSTR, &d) == 0)
		printf("\tlinkstr: %s\n", link);
	for (int i = 0; i < n; i++) {
		const struct rump_sockaddr_in *sin = (const void *)&all[i].ifr_ifru.ifru_addr;
		uint32_t addr, mask;

		if (strncmp(all[i].ifr_name, name, sizeof all[i].ifr_name) != 0 || sin->sin_family != RUMP_AF_INET)
			continue;
		addr = sin->sin_addr;
		r = all[i];
		if (rump_sys_ioctl(s, RUMP_SIOCGIFNETMASK, &r) == -1)
			return nfail("ifconfig", name);
		mask = ((const struct rump_sockaddr_in *)(const void *)&r.ifr_ifru.ifru_addr)->sin_addr;
		printf("\tinet %s/%d", ntoa(addr, buf), mask2plen(mask));
		r = all[i];
		if ((flags & RUMP_IFF_BROADCAST) && rump_sys_ioctl(s, RUMP_SIOCGIFBRDADDR, &r) == 0)
			printf(" broadcast %s",
			    ntoa(((const struct rump_sockaddr_in *)(const void *)&r.ifr_ifru.ifru_addr)->sin_addr, buf));
		printf("\n");
	}
	return 0;
}

static int
if_list(int s, const char *only)
{
	int n = 0, rv = 0, found = 0;
	struct rump_ifreq *all = ifconf(s, &n);

	if (all == NULL)
		return nfail("ifconfig", "SIOCGIFCONF");
	for (int i = 0; i < n; i++) {
		int seen = 0;

		for (int j = 0; j < i; j++)
			if (strncmp(all[i].ifr_name, all[j].ifr_name, sizeof all[i].ifr_name) == 0)
				seen = 1;
		if (seen || (only != NULL && strncmp(all[i].ifr_name, only, sizeof all[i].ifr_name) != 0))
			continue;
		found = 1;
		char name[RUMP_IFNAMSIZ + 1] = { 0 };

		memcpy(name, all[i].ifr_name, RUMP_IFNAMSIZ);
		rv |= show_if(s, name, all, n);
	}
	free(all);
	if (only != NULL && !found) {
		errno = ENXIO;
		return nfail("ifconfig", only);
	}
	return rv;
}

static int
if_flag(int s, const char *name, int up)
{
	struct rump_ifreq r;

	memset(&r, 0, sizeof r);
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
	if (rump_sys_ioctl(s, RUMP_SIOCGIFFLAGS, &r) == -1)
		return -1;
	if (up)
		r.ifr_ifru.ifru_flags |= RUMP_IFF_UP;
	else
		r.ifr_ifru.ifru_flags &= ~RUMP_IFF_UP;
	return rump_sys_ioctl(s, RUMP_SIOCSIFFLAGS, &r);
}

int
cmd_ifconfig(int argc, char **argv)
{
	int s, i = 1, rv = 0;
	const char *name;

	if ((s = inetsock()) == -1)
		return nfail("ifconfig", "socket");
	if (argc == 1 || (argc == 2 && strcmp(argv[1], "-a") == 0))
		return if_list(s, NULL);
	name = argv[i++];
	if (strlen(name) >= RUMP_IFNAMSIZ) {
		fprintf(stderr, "rumpctl ifconfig: %s: name too long\n", name);
		return 2;
	}
	if (i == argc)
		return if_list(s, name);
	for (; i < argc && rv == 0; i++) {
		const char *op = argv[i];
		struct rump_ifreq r;

		memset(&r, 0, sizeof r);
		snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
		if (strcmp(op, "create") == 0) {
			if (rump_sys_ioctl(s, RUMP_SIOCIFCREATE, &r) == -1)
				rv = nfail("ifconfig", name);
		} else if (strcmp(op, "destroy") == 0) {
			if (rump_sys_ioctl(s, RUMP_SIOCIFDESTROY, &r) == -1)
				rv = nfail("ifconfig", name);
		} else if (strcmp(op, "up") == 0 || strcmp(op, "down") == 0) {
			if (if_flag(s, name, op[0] == 'u') == -1)
				rv = nfail("ifconfig", name);
		} else if (strcmp(op, "inet") == 0 && i + 1 < argc) {
			struct rump_ifaliasreq a;
			uint32_t addr, mask;
			int plen;

			if (parse_cidr(argv[++i], &addr, &plen) == -1) {
				fprintf(stderr, "rumpctl ifconfig: %s: not an IPv4 address[/prefix]\n", argv[i]);
				return 2;
			}
			if (i + 2 < argc && strcmp(argv[i + 1], "netmask") == 0) {
				struct in_addr m;

				if (inet_pton(AF_INET, argv[i + 2], &m) != 1) {
					fprintf(stderr, "rumpctl ifconfig: %s: not a netmask\n", argv[i + 2]);
					return 2;
				}
				mask = m.s_addr;
				plen = mask2plen(mask);
				i += 2;
			} else
				mask = plen2mask(plen < 0 ? 24 : plen);
			memset(&a, 0, sizeof a);
			snprintf(a.ifra_name, sizeof a.ifra_name, "%s", name);
			sin_set((void *)&a.ifra_addr, addr);
			sin_set((void *)&a.ifra_mask, mask);
			if (rump_sys_ioctl(s, RUMP_SIOCAIFADDR, &a) == -1)
				rv = nfail("ifconfig", argv[i]);
		} else if (strcmp(op, "-inet") == 0 && i + 1 < argc) {
			uint32_t addr;
			int plen;

			if (parse_cidr(argv[++i], &addr, &plen) == -1) {
				fprintf(stderr, "rumpctl ifconfig: %s: not an IPv4 address\n", argv[i]);
				return 2;
			}
			sin_set((void *)&r.ifr_ifru.ifru_addr, addr);
			if (rump_sys_ioctl(s, RUMP_SIOCDIFADDR, &r) == -1)
				rv = nfail("ifconfig", argv[i]);
		} else if ((strcmp(op, "linkstr") == 0 && i + 1 < argc) || strcmp(op, "-linkstr") == 0) {
			struct rump_ifdrv d;

			memset(&d, 0, sizeof d);
			snprintf(d.ifd_name, sizeof d.ifd_name, "%s", name);
			if (op[0] == '-')
				d.ifd_cmd = RUMP_IFLINKSTR_UNSET;
			else {
				d.ifd_data = argv[++i];
				d.ifd_len = strlen(argv[i]) + 1;
			}
			if (rump_sys_ioctl(s, RUMP_SIOCSLINKSTR, &d) == -1)
				rv = nfail("ifconfig", op[0] == '-' ? name : argv[i]);
		} else if (strcmp(op, "mtu") == 0 && i + 1 < argc) {
			r.ifr_ifru.ifru_mtu = atoi(argv[++i]);
			if (rump_sys_ioctl(s, RUMP_SIOCSIFMTU, &r) == -1)
				rv = nfail("ifconfig", argv[i]);
		} else
			return nusage();
	}
	return rv;
}

/* --- route --------------------------------------------------------------------------------- */

struct rtbuf {
	struct rump_rt_msghdr h;
	unsigned char space[512];
};

static size_t
rt_roundup(size_t n)
{
	return n > 0 ? 1 + ((n - 1) | 7) : 8;
}

/* The sockaddrs of a message, by RTAX index (NULL where absent). */
static void
rt_addrs(const struct rump_rt_msghdr *h, const struct rump_sockaddr *sa[RUMP_RTAX_MAX])
{
	const unsigned char *p = (const unsigned char *)(h + 1), *end = (const unsigned char *)h + h->rtm_msglen;

	for (int i = 0; i < RUMP_RTAX_MAX; i++) {
		sa[i] = NULL;
		if (!(h->rtm_addrs & (1 << i)) || p + 2 > end)
			continue;
		sa[i] = (const struct rump_sockaddr *)(const void *)p;
		p += rt_roundup(sa[i]->sa_len);
	}
}

static const char *
sa_str(const struct rump_sockaddr *sa, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	if (sa == NULL)
		snprintf(buf, len, "-");
	else if (sa->sa_family == RUMP_AF_INET)
		snprintf(buf, len, "%s", ntoa(((const struct rump_sockaddr_in *)(const void *)sa)->sin_addr, a));
	else if (sa->sa_family == RUMP_AF_LINK) {
		const struct rump_sockaddr_dl *d = (const void *)sa;

		snprintf(buf, len, "link#%u", d->sdl_index);
	} else
		snprintf(buf, len, "(family %u)", sa->sa_family);
	return buf;
}

static const char *
ifname_of(const struct rump_sockaddr *sa, char *buf)
{
	const struct rump_sockaddr_dl *d = (const void *)sa;

	if (sa == NULL || sa->sa_family != RUMP_AF_LINK || d->sdl_nlen >= RUMP_IFNAMSIZ)
		return "-";
	memcpy(buf, d->sdl_data, d->sdl_nlen);
	buf[d->sdl_nlen] = '\0';
	return buf;
}

static void
rt_flags(int f, char *buf, size_t len)
{
	static const struct { int bit; char c; } names[] = {
		{ RUMP_RTF_UP, 'U' }, { RUMP_RTF_GATEWAY, 'G' }, { RUMP_RTF_HOST, 'H' }, { RUMP_RTF_REJECT, 'R' },
		{ RUMP_RTF_DYNAMIC, 'D' }, { RUMP_RTF_CONNECTED, 'C' }, { RUMP_RTF_LLINFO, 'L' },
		{ RUMP_RTF_STATIC, 'S' }, { RUMP_RTF_BLACKHOLE, 'B' }, { RUMP_RTF_LOCAL, 'l' },
	};
	size_t o = 0;

	for (size_t i = 0; i < sizeof names / sizeof names[0] && o + 1 < len; i++)
		if (f & names[i].bit)
			buf[o++] = names[i].c;
	buf[o] = '\0';
}

static int
route_show(void)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned mlen;
	size_t sz = 0;
	char *buf;

	if (rsysctl_lookup("net.route.inet.dump", mib, &mlen, NULL) == -1)
		return nfail("route", "net.route.inet.dump");
	if (rump_sys___sysctl(mib, mlen, NULL, &sz, NULL, 0) == -1)
		return nfail("route", "net.route.inet.dump");
	sz += 16 * sizeof(struct rtbuf);
	if ((buf = malloc(sz)) == NULL)
		return nfail("route", "memory");
	if (rump_sys___sysctl(mib, mlen, buf, &sz, NULL, 0) == -1) {
		free(buf);
		return nfail("route", "net.route.inet.dump");
	}
	printf("Routing tables\n\nInternet:\n");
	printf("%-18s %-18s %-6s %5s %s\n", "Destination", "Gateway", "Flags", "Mtu", "Interface");
	for (size_t off = 0; off + sizeof(struct rump_rt_msghdr) <= sz;) {
		const struct rump_rt_msghdr *h = (const void *)(buf + off);
		const struct rump_sockaddr *sa[RUMP_RTAX_MAX];
		char d[64], g[64], f[16], ifn[RUMP_IFNAMSIZ + 1];

		if (h->rtm_msglen < sizeof *h || off + h->rtm_msglen > sz)
			break;
		rt_addrs(h, sa);
		sa_str(sa[0], d, sizeof d);
		if (sa[2] != NULL) {
			int plen = mask2plen(((const struct rump_sockaddr_in *)(const void *)sa[2])->sin_addr);

			if (plen == 0)
				snprintf(d, sizeof d, "default");
			else if (plen < 32)
				snprintf(d + strlen(d), sizeof d - strlen(d), "/%d", plen);
		}
		rt_flags(h->rtm_flags, f, sizeof f);
		printf("%-18s %-18s %-6s %5" PRIu64 " %s\n", d, sa_str(sa[1], g, sizeof g), f, h->rtm_rmx.rmx_mtu,
		    ifname_of(sa[4], ifn));
		off += h->rtm_msglen;
	}
	free(buf);
	return 0;
}

/* One request on a routing socket; the kernel's answer (same seq, our pid) into *ans. */
static int
rt_request(int type, int flags, uint32_t dst, int plen, const uint32_t *gw, struct rtbuf *ans)
{
	struct rtbuf m;
	unsigned char *p = m.space;
	int s, seq = 1;
	pid_t pid = rump_sys_getpid();

	memset(&m, 0, sizeof m);
	m.h.rtm_version = RUMP_RTM_VERSION;
	m.h.rtm_type = (uint8_t)type;
	m.h.rtm_flags = flags;
	m.h.rtm_seq = seq;
	m.h.rtm_addrs = RUMP_RTA_DST;
	sin_set((void *)p, dst);
	p += sizeof(struct rump_sockaddr_in);
	if (gw != NULL) {
		m.h.rtm_addrs |= RUMP_RTA_GATEWAY;
		sin_set((void *)p, *gw);
		p += sizeof(struct rump_sockaddr_in);
	}
	if (plen >= 0) {
		m.h.rtm_addrs |= RUMP_RTA_NETMASK;
		sin_set((void *)p, plen2mask(plen));
		p += sizeof(struct rump_sockaddr_in);
	}
	m.h.rtm_msglen = (uint16_t)(p - (unsigned char *)&m);
	if ((s = rump_sys_socket(RUMP_PF_ROUTE, RUMP_SOCK_RAW, RUMP_AF_INET)) == -1)
		return -1;
	if (rump_sys_write(s, &m, m.h.rtm_msglen) == -1) {
		int e = errno;

		rump_sys_close(s);
		errno = e;
		return -1;
	}
	/* Others' messages may come first: ours is the one with our pid and seq. */
	for (;;) {
		ssize_t n = rump_sys_read(s, ans, sizeof *ans);

		if (n == -1) {
			int e = errno;

			rump_sys_close(s);
			errno = e;
			return -1;
		}
		if ((size_t)n >= sizeof ans->h && ans->h.rtm_seq == seq && ans->h.rtm_pid == pid)
			break;
	}
	rump_sys_close(s);
	if (ans->h.rtm_errno != 0) {
		errno = ans->h.rtm_errno;
		return -1;
	}
	return 0;
}

int
cmd_route(int argc, char **argv)
{
	struct rtbuf ans;
	uint32_t dst, gw;
	int plen, i = 2, host = 0;
	const char *op;

	if (argc < 2)
		return nusage();
	op = argv[1];
	if (strcmp(op, "show") == 0 && argc == 2)
		return route_show();
	if (i < argc && (strcmp(argv[i], "-net") == 0 || strcmp(argv[i], "-host") == 0))
		host = argv[i++][1] == 'h';
	if (i >= argc)
		return nusage();
	if (strcmp(argv[i], "default") == 0) {
		dst = 0;
		plen = 0;
	} else if (parse_cidr(argv[i], &dst, &plen) == -1) {
		fprintf(stderr, "rumpctl route: %s: not an IPv4 address[/prefix]\n", argv[i]);
		return 2;
	}
	if (host)
		plen = 32;
	i++;
	if (strcmp(op, "add") == 0 || strcmp(op, "change") == 0) {
		struct in_addr g;

		if (i + 1 != argc || inet_pton(AF_INET, argv[i], &g) != 1)
			return nusage();
		gw = g.s_addr;
		if (rt_request(op[0] == 'a' ? RUMP_RTM_ADD : RUMP_RTM_CHANGE,
		    RUMP_RTF_UP | RUMP_RTF_GATEWAY | RUMP_RTF_STATIC | (plen == 32 ? RUMP_RTF_HOST : 0),
		    dst, plen < 0 ? 32 : plen, &gw, &ans) == -1)
			return nfail("route", argv[i - 1]);
		printf("%s %s %s: gateway %s\n", op, plen == 32 || plen < 0 ? "host" : "net", argv[i - 1], argv[i]);
		return 0;
	}
	if (strcmp(op, "delete") == 0) {
		if (i != argc)
			return nusage();
		if (rt_request(RUMP_RTM_DELETE, 0, dst, plen < 0 ? 32 : plen, NULL, &ans) == -1)
			return nfail("route", argv[i - 1]);
		printf("delete %s %s\n", plen == 32 || plen < 0 ? "host" : "net", argv[i - 1]);
		return 0;
	}
	if (strcmp(op, "get") == 0) {
		const struct rump_sockaddr *sa[RUMP_RTAX_MAX];
		char b1[64], ifn[RUMP_IFNAMSIZ + 1], f[16];

		if (i != argc)
			return nusage();
		if (rt_request(RUMP_RTM_GET, 0, dst, plen, NULL, &ans) == -1)
			return nfail("route", argv[i - 1]);
		rt_addrs(&ans.h, sa);
		printf("   route to: %s\n", argv[i - 1]);
		printf("destination: %s\n", sa_str(sa[0], b1, sizeof b1));
		printf("       mask: %s\n", sa_str(sa[2], b1, sizeof b1));
		printf("    gateway: %s\n", sa_str(sa[1], b1, sizeof b1));
		printf("  interface: %s\n", ifname_of(sa[4], ifn));
		printf(" if address: %s\n", sa_str(sa[5], b1, sizeof b1));
		rt_flags(ans.h.rtm_flags, f, sizeof f);
		printf("      flags: %s\n", f);
		return 0;
	}
	return nusage();
}

/* --- arp ----------------------------------------------------------------------------------- */

int
cmd_arp(int argc, char **argv)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned mlen;
	size_t sz = 0;
	char *buf;

	if (argc != 2 || strcmp(argv[1], "-a") != 0)
		return nusage();
	if (rsysctl_lookup("net.route.inet.llinfo", mib, &mlen, NULL) == -1)
		return nfail("arp", "net.route.inet.llinfo");
	if (rump_sys___sysctl(mib, mlen, NULL, &sz, NULL, 0) == -1)
		return nfail("arp", "net.route.inet.llinfo");
	sz += 16 * sizeof(struct rtbuf);
	if ((buf = malloc(sz)) == NULL)
		return nfail("arp", "memory");
	if (rump_sys___sysctl(mib, mlen, buf, &sz, NULL, 0) == -1) {
		free(buf);
		return nfail("arp", "net.route.inet.llinfo");
	}
	for (size_t off = 0; off + sizeof(struct rump_rt_msghdr) <= sz;) {
		const struct rump_rt_msghdr *h = (const void *)(buf + off);
		const struct rump_sockaddr *sa[RUMP_RTAX_MAX];
		const struct rump_sockaddr_dl *d;
		char a[64], ifn[RUMP_IFNAMSIZ + 1];

		if (h->rtm_msglen < sizeof *h || off + h->rtm_msglen > sz)
			break;
		rt_addrs(h, sa);
		d = (const void *)sa[1];
		printf("? (%s) at ", sa_str(sa[0], a, sizeof a));
		if (d != NULL && d->sdl_family == RUMP_AF_LINK && d->sdl_alen == 6 && d->sdl_nlen + 6 <= (int)sizeof d->sdl_data) {
			const unsigned char *m = (const unsigned char *)d->sdl_data + d->sdl_nlen;

			printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
		} else
			printf("(incomplete)");
		printf(" on %s\n", ifname_of(sa[1], ifn));
		off += h->rtm_msglen;
	}
	free(buf);
	return 0;
}

/* --- ping ---------------------------------------------------------------------------------- */

static uint16_t
cksum(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int
cmd_ping(int argc, char **argv)
{
	long count = -1;
	double wait = 1.0;
	int i = 1, s, id = rump_sys_getpid() & 0xffff;
	long sent = 0, got = 0;
	struct rump_sockaddr_in to;
	struct in_addr dst;
	double tmin = 1e9, tmax = 0, tsum = 0;
	enum { DATALEN = 56 };

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			wait = strtod(argv[++i], NULL);
		else
			return nusage();
	}
	if (i + 1 != argc || count == 0 || wait <= 0 || inet_pton(AF_INET, argv[i], &dst) != 1)
		return nusage();
	if ((s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_RAW, RUMP_IPPROTO_ICMP)) == -1)
		return nfail("ping", "socket");
	sin_set(&to, dst.s_addr);
	printf("PING %s (%s): %d data bytes\n", argv[i], argv[i], DATALEN);
	fflush(stdout);
	for (long seq = 0; count < 0 || seq < count; seq++) {
		unsigned char pkt[8 + DATALEN], in[1500];
		double t0 = now_ms(), deadline = t0 + wait * 1000.0;

		memset(pkt, 0, sizeof pkt);
		pkt[0] = RUMP_ICMP_ECHO;
		pkt[4] = (unsigned char)(id >> 8);
		pkt[5] = (unsigned char)id;
		pkt[6] = (unsigned char)(seq >> 8);
		pkt[7] = (unsigned char)seq;
		memcpy(pkt + 8, &t0, sizeof t0);
		for (int j = 8 + (int)sizeof t0; j < (int)sizeof pkt; j++)
			pkt[j] = (unsigned char)j;
		uint16_t c = cksum(pkt, sizeof pkt);

		memcpy(pkt + 2, &c, 2);
		if (rump_sys_sendto(s, pkt, sizeof pkt, 0, (const void *)&to, sizeof to) == -1)
			nfail("ping", "sendto");
		else
			sent++;
		/* Replies to this request until the interval is over (a late one of an earlier request counts too). */
		for (;;) {
			double left = deadline - now_ms();
			struct rump_pollfd pfd = { .fd = s, .events = RUMP_POLLIN };

			if (left <= 0)
				break;
			int r = rump_sys_poll(&pfd, 1, (int)left + 1);

			if (r == -1 && errno != EINTR)
				return nfail("ping", "poll");
			if (r <= 0)
				continue;
			ssize_t n = rump_sys_recvfrom(s, in, sizeof in, 0, NULL, NULL);

			if (n < 20)
				continue;
			int hl = (in[0] & 0xf) * 4;

			if (n < hl + 8 + (ssize_t)sizeof(double) || in[hl] != RUMP_ICMP_ECHOREPLY ||
			    (in[hl + 4] << 8 | in[hl + 5]) != id)
				continue;
			double sentat, rtt;

			memcpy(&sentat, in + hl + 8, sizeof sentat);
			rtt = now_ms() - sentat;
			got++;
			tsum += rtt;
			if (rtt < tmin)
				tmin = rtt;
			if (rtt > tmax)
				tmax = rtt;
			printf("%zd bytes from %s: icmp_seq=%d ttl=%d time=%.3f ms\n", n - hl,
			    argv[i], in[hl + 6] << 8 | in[hl + 7], in[8], rtt);
			fflush(stdout);
		}
	}
	printf("\n----%s PING Statistics----\n", argv[i]);
	printf("%ld packets transmitted, %ld packets received, %.1f%% packet loss\n", sent, got,
	    sent ? 100.0 * (double)(sent - got) / (double)sent : 0.0);
	if (got > 0)
		printf("round-trip min/avg/max = %.3f/%.3f/%.3f ms\n", tmin, tsum / (double)got, tmax);
	rump_sys_close(s);
	return got > 0 ? 0 : 2;
}

/*
 * --- netstat -------------------------------------------------------------------------------
 * The protocol control blocks the kernel lists by sysctl, printed as NetBSD's netstat -an prints
 * them: TCP from net.inet.tcp.pcblist (librump/rumpnet/Netinet/TcpPcbList.cs), IPv6 TCP from
 * net.inet6.tcp6.pcblist (the same fields with 16-byte addresses), UDP from net.inet.udp.pcblist
 * (UdpPcbList.cs), local sockets from net.local.{stream,dgram,seqpacket}.pcblist
 * (Local/LocalPcbList.cs: 136 bytes); little-endian but for the addresses. All of them by
 * default; -t, -u, -x (or -f inet, -f local) choose.
 */
#define LOCAL_PCB_SIZE 136

/* Where an inet record keeps its fields (byte offsets; -1: the record has no such field). */
struct inetpcb {
	const char *proto;	/* netstat's Proto column */
	const char *sysctl;
	size_t size;
	int af;
	int state, laddr, faddr, lport, fport, sendq, recvq;
	int optional;		/* a kernel without this protocol has no list: not an error */
};

/* TCP first (its state column), IPv6 after IPv4; state >= 0 marks a TCP record (-t). */
static const struct inetpcb inetpcbs[] = {
	{ "tcp", "net.inet.tcp.pcblist", 32, AF_INET, 0, 4, 8, 12, 14, 16, 20, 0 },
	{ "tcp6", "net.inet6.tcp6.pcblist", 56, AF_INET6, 0, 4, 20, 36, 38, 40, 44, 1 },
	{ "udp", "net.inet.udp.pcblist", 24, AF_INET, -1, 0, 4, 8, 10, -1, 12, 0 },
};

static const char *const tcpstates[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT",
	"FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
};

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* "10.0.0.1.80", "fd00::1.80" or "*.*", as NetBSD's netstat -n writes an endpoint. */
static void
endpoint(int af, const unsigned char *addr, unsigned port, char *out, size_t len)
{
	static const unsigned char any[16];
	char a[INET6_ADDRSTRLEN];

	if (memcmp(addr, any, af == AF_INET6 ? 16 : 4) == 0)
		strcpy(a, "*");
	else
		inet_ntop(af, addr, a, sizeof a);
	if (port == 0)
		snprintf(out, len, "%s.*", a);
	else
		snprintf(out, len, "%s.%u", a, port);
}

/* The records of sysctl NAME (malloc'd; *szp their bytes), or NULL with errno set. */
static unsigned char *
pcblist(const char *name, size_t entry, size_t *szp)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned mlen;
	size_t sz = 0;
	unsigned char *buf;

	if (rsysctl_lookup(name, mib, &mlen, NULL) == -1)
		return NULL;
	if (rump_sys___sysctl(mib, mlen, NULL, &sz, NULL, 0) == -1)
		return NULL;
	sz += 64 * entry;	/* sockets made between the two calls */
	if ((buf = malloc(sz)) == NULL)
		return NULL;
	if (rump_sys___sysctl(mib, mlen, buf, &sz, NULL, 0) == -1) {
		free(buf);
		return NULL;
	}
	*szp = sz;
	return buf;
}

static int
netstat_inet(int tcp, int udp)
{
	printf("Active Internet connections (including servers)\n");
	printf("%-5s %6s %6s  %-22s %-22s %s\n", "Proto", "Recv-Q", "Send-Q",
	    "Local Address", "Foreign Address", "State");
	for (size_t p = 0; p < sizeof inetpcbs / sizeof inetpcbs[0]; p++) {
		const struct inetpcb *t = &inetpcbs[p];
		unsigned char *buf;
		size_t sz;

		if (!(t->state >= 0 ? tcp : udp))
			continue;
		if ((buf = pcblist(t->sysctl, t->size, &sz)) == NULL) {
			if (t->optional)
				continue;
			return nfail("netstat", t->sysctl);
		}
		for (size_t off = 0; off + t->size <= sz; off += t->size) {
			const unsigned char *e = buf + off;
			char l[64], f[64];

			endpoint(t->af, e + t->laddr, (unsigned)(e[t->lport] | e[t->lport + 1] << 8), l, sizeof l);
			endpoint(t->af, e + t->faddr, (unsigned)(e[t->fport] | e[t->fport + 1] << 8), f, sizeof f);
			printf("%-5s %6" PRIu32 " %6" PRIu32 "  %-22s ", t->proto, le32(e + t->recvq),
			    t->sendq >= 0 ? le32(e + t->sendq) : 0, l);
			if (t->state >= 0) {
				uint32_t st = le32(e + t->state);

				printf("%-22s %s\n", f, st < sizeof tcpstates / sizeof tcpstates[0] ? tcpstates[st] : "?");
			} else
				printf("%s\n", f);
		}
		free(buf);
	}
	return 0;
}

static int
netstat_local(void)
{
	static const char *const types[][2] = {
		{ "stream", "net.local.stream.pcblist" },
		{ "dgram", "net.local.dgram.pcblist" },
		{ "seqpac", "net.local.seqpacket.pcblist" },
	};

	printf("Active UNIX domain sockets\n");
	printf("%-8s %-6s %6s %6s %-8s %s\n", "Address", "Type", "Recv-Q", "Send-Q", "Conn", "Addr");
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		unsigned char *buf;
		size_t sz;

		if ((buf = pcblist(types[t][1], LOCAL_PCB_SIZE, &sz)) == NULL)
			return nfail("netstat", types[t][1]);
		for (size_t off = 0; off + LOCAL_PCB_SIZE <= sz; off += LOCAL_PCB_SIZE) {
			const unsigned char *e = buf + off;
			char path[105];
			uint64_t conn = le64(e + 24);
			char cs[20];

			memcpy(path, e + 32, 104);
			path[104] = '\0';
			if (conn != 0)
				snprintf(cs, sizeof cs, "%" PRIx64, conn);
			else
				strcpy(cs, "0");
			printf("%-8" PRIx64 " %-6s %6" PRIu32 " %6" PRIu32 " %-8s%s%s\n", le64(e + 16), types[t][0],
			    le32(e + 4), le32(e + 8), cs, path[0] != '\0' ? " " : "", path);
		}
		free(buf);
	}
	return 0;
}

int
cmd_netstat(int argc, char **argv)
{
	int tcp = 0, udp = 0, local = 0, r = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0)
			tcp = 1;
		else if (strcmp(argv[i], "-u") == 0)
			udp = 1;
		else if (strcmp(argv[i], "-x") == 0)
			local = 1;
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc && strcmp(argv[i + 1], "inet") == 0)
			tcp = udp = 1, i++;
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc &&
		    (strcmp(argv[i + 1], "local") == 0 || strcmp(argv[i + 1], "unix") == 0))
			local = 1, i++;
		else if (strcmp(argv[i], "-a") != 0 && strcmp(argv[i], "-n") != 0 && strcmp(argv[i], "-an") != 0)
			return nusage();
	}
	if (!tcp && !udp && !local)
		tcp = udp = local = 1;
	if (tcp || udp)
		r = netstat_inet(tcp, udp);
	if (r == 0 && local) {
		if (tcp || udp)
			printf("\n");
		r = netstat_local();
	}
	return r;
}
