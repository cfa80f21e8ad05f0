/*
 * rump_pub_netconfig_ipv6_* through the C ABI: lo0 gets another IPv6 address and a default route
 * through its prefix; a link-local gateway needs its interface named; bad addresses, prefix
 * lengths and names give NetBSD's errno values. (Two kernels over shmif and Linux over a TAP are
 * tested in the NUnit Inet6Tests.)
 */
#include "rtest.h"

#define NB_ENXIO 6
#define NB_EINVAL 22
#define NB_ENETUNREACH 51

int
main(void)
{
	rtest_init();
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("lo0", "fd00:1::1", 64), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("fd00:1::9"), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("fd00:1::10"), 0);	/* replaces the default route */
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("fd00:2::1"), NB_ENETUNREACH);
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("fe80::1"), NB_EINVAL);	/* which link? */
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("fe80::1%nosuch0"), NB_ENXIO);
	EXPECT_EQ(rump_pub_netconfig_ipv6_gw("bogus"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("lo0", "fd00:1::2", 129), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("lo0", "fd00:1::zz", 64), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("lo0", "ff02::1", 64), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("lo0", "10.0.0.1", 64), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv6_ifaddr("nosuch0", "fd00:3::1", 64), NB_ENXIO);
	return rtest_done();
}
