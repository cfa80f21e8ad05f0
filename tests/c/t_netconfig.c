/*
 * rump_pub_netconfig_* through the C ABI: lo0 gets another address and a gateway route through
 * it; bad addresses, masks and names give NetBSD's errno values (EINVAL, ENXIO); a name no
 * cloner knows cannot be created; and lo0, not made by a cloner, cannot be destroyed. (virt0
 * over a real TAP is tested in the NUnit VirtifTests, inside a network namespace.)
 */
#include "rtest.h"

#define NB_ENXIO 6
#define NB_EINVAL 22

int
main(void)
{
	rtest_init();
	EXPECT_EQ(rump_pub_netconfig_ifup("lo0"), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr("lo0", "127.0.0.2", "255.255.255.255"), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr_cidr("lo0", "127.1.0.1", 16), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv4_gw("127.1.0.9"), 0);
	EXPECT_EQ(rump_pub_netconfig_ipv4_gw("127.1.0.10"), 0);	/* replaces the default route */
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr("lo0", "127.0.0.300", "255.0.0.0"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr("lo0", "127.0.0.3", "255.0.255.0"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr_cidr("lo0", "127.0.0.3", 33), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ipv4_ifaddr("nosuch0", "10.0.0.1", "255.0.0.0"), NB_ENXIO);
	EXPECT_EQ(rump_pub_netconfig_ipv4_gw("bogus"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ifup("nosuch0"), NB_ENXIO);
	EXPECT_EQ(rump_pub_netconfig_ifcreate("nosuch0"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ifdestroy("lo0"), NB_EINVAL);
	EXPECT_EQ(rump_pub_netconfig_ifdestroy("virt9"), NB_ENXIO);
	EXPECT_EQ(rump_pub_netconfig_dhcp_ipv4_oneshot("nosuch0"), NB_ENXIO);
	EXPECT_EQ(rump_pub_netconfig_dhcp_ipv4_oneshot("lo0"), NB_EINVAL);	/* not Ethernet: no hardware address */
	EXPECT_EQ(rump_pub_netconfig_ifdown("lo0"), 0);
	EXPECT_EQ(rump_pub_netconfig_ifup("lo0"), 0);
	return rtest_done();
}
