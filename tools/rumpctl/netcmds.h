/* rumpctl's network commands (netcmds.c): ifconfig, route, ping, arp, netstat. */
#ifndef RUMPCTL_NETCMDS_H
#define RUMPCTL_NETCMDS_H

int cmd_ifconfig(int, char **);
int cmd_route(int, char **);
int cmd_ping(int, char **);
int cmd_arp(int, char **);
int cmd_netstat(int, char **);

#endif
