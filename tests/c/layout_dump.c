/*
 * Prints the size of every structure in <rump/rumpdefs.h> and the offset of each of its fields,
 * one per line:
 *	rump_stat 152
 *	rump_stat.st_ino 16
 * tests/Rump.Tests/AbiLayoutTests.cs compares them with the C# mirrors in Rump.Kern.
 * Keep in step with rumpdefs.master's %%structs (unions too, with USIZE and UFIELD).
 */
#include <stddef.h>
#include <stdio.h>

#include <rump/rumpdefs.h>

#define SIZE(s)		printf("%s %zu\n", #s, sizeof(struct s))
#define FIELD(s, f)	printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define USIZE(u)	printf("%s %zu\n", #u, sizeof(union u))
#define UFIELD(u, f)	printf("%s.%s %zu\n", #u, #f, offsetof(union u, f))

int
main(void)
{
	SIZE(rump_sockaddr);
	FIELD(rump_sockaddr, sa_len);
	FIELD(rump_sockaddr, sa_family);
	FIELD(rump_sockaddr, sa_data);
	SIZE(rump_sockaddr_un);
	FIELD(rump_sockaddr_un, sun_len);
	FIELD(rump_sockaddr_un, sun_family);
	FIELD(rump_sockaddr_un, sun_path);
	SIZE(rump_msghdr);
	FIELD(rump_msghdr, msg_name);
	FIELD(rump_msghdr, msg_namelen);
	FIELD(rump_msghdr, msg_iov);
	FIELD(rump_msghdr, msg_iovlen);
	FIELD(rump_msghdr, msg_control);
	FIELD(rump_msghdr, msg_controllen);
	FIELD(rump_msghdr, msg_flags);
	SIZE(rump_cmsghdr);
	FIELD(rump_cmsghdr, cmsg_len);
	FIELD(rump_cmsghdr, cmsg_level);
	FIELD(rump_cmsghdr, cmsg_type);
	SIZE(rump_linger);
	FIELD(rump_linger, l_onoff);
	FIELD(rump_linger, l_linger);
	SIZE(rump_unpcbid);
	FIELD(rump_unpcbid, unp_pid);
	FIELD(rump_unpcbid, unp_euid);
	FIELD(rump_unpcbid, unp_egid);
	SIZE(rump_sockaddr_in6);
	FIELD(rump_sockaddr_in6, sin6_len);
	FIELD(rump_sockaddr_in6, sin6_family);
	FIELD(rump_sockaddr_in6, sin6_port);
	FIELD(rump_sockaddr_in6, sin6_flowinfo);
	FIELD(rump_sockaddr_in6, sin6_addr);
	FIELD(rump_sockaddr_in6, sin6_scope_id);
	SIZE(rump_sockaddr_in);
	FIELD(rump_sockaddr_in, sin_len);
	FIELD(rump_sockaddr_in, sin_family);
	FIELD(rump_sockaddr_in, sin_port);
	FIELD(rump_sockaddr_in, sin_addr);
	FIELD(rump_sockaddr_in, sin_zero);
	SIZE(rump_sockaddr_dl);
	FIELD(rump_sockaddr_dl, sdl_len);
	FIELD(rump_sockaddr_dl, sdl_family);
	FIELD(rump_sockaddr_dl, sdl_index);
	FIELD(rump_sockaddr_dl, sdl_type);
	FIELD(rump_sockaddr_dl, sdl_nlen);
	FIELD(rump_sockaddr_dl, sdl_alen);
	FIELD(rump_sockaddr_dl, sdl_slen);
	FIELD(rump_sockaddr_dl, sdl_data);
	USIZE(rump_ifreq_ifru);
	UFIELD(rump_ifreq_ifru, ifru_addr);
	UFIELD(rump_ifreq_ifru, ifru_space);
	UFIELD(rump_ifreq_ifru, ifru_flags);
	UFIELD(rump_ifreq_ifru, ifru_metric);
	UFIELD(rump_ifreq_ifru, ifru_mtu);
	UFIELD(rump_ifreq_ifru, ifru_value);
	UFIELD(rump_ifreq_ifru, ifru_data);
	SIZE(rump_ifreq);
	FIELD(rump_ifreq, ifr_name);
	FIELD(rump_ifreq, ifr_ifru);
	SIZE(rump_ifaliasreq);
	FIELD(rump_ifaliasreq, ifra_name);
	FIELD(rump_ifaliasreq, ifra_addr);
	FIELD(rump_ifaliasreq, ifra_broadaddr);
	FIELD(rump_ifaliasreq, ifra_mask);
	SIZE(rump_ifconf);
	FIELD(rump_ifconf, ifc_len);
	FIELD(rump_ifconf, ifc_buf);
	SIZE(rump_ifdrv);
	FIELD(rump_ifdrv, ifd_name);
	FIELD(rump_ifdrv, ifd_cmd);
	FIELD(rump_ifdrv, ifd_len);
	FIELD(rump_ifdrv, ifd_data);
	SIZE(rump_rt_metrics);
	FIELD(rump_rt_metrics, rmx_locks);
	FIELD(rump_rt_metrics, rmx_mtu);
	FIELD(rump_rt_metrics, rmx_hopcount);
	FIELD(rump_rt_metrics, rmx_recvpipe);
	FIELD(rump_rt_metrics, rmx_sendpipe);
	FIELD(rump_rt_metrics, rmx_ssthresh);
	FIELD(rump_rt_metrics, rmx_rtt);
	FIELD(rump_rt_metrics, rmx_rttvar);
	FIELD(rump_rt_metrics, rmx_expire);
	FIELD(rump_rt_metrics, rmx_pksent);
	SIZE(rump_rt_msghdr);
	FIELD(rump_rt_msghdr, rtm_msglen);
	FIELD(rump_rt_msghdr, rtm_version);
	FIELD(rump_rt_msghdr, rtm_type);
	FIELD(rump_rt_msghdr, rtm_index);
	FIELD(rump_rt_msghdr, rtm_flags);
	FIELD(rump_rt_msghdr, rtm_addrs);
	FIELD(rump_rt_msghdr, rtm_pid);
	FIELD(rump_rt_msghdr, rtm_seq);
	FIELD(rump_rt_msghdr, rtm_errno);
	FIELD(rump_rt_msghdr, rtm_use);
	FIELD(rump_rt_msghdr, rtm_inits);
	FIELD(rump_rt_msghdr, rtm_rmx);
	SIZE(rump_in6_addrlifetime);
	FIELD(rump_in6_addrlifetime, ia6t_expire);
	FIELD(rump_in6_addrlifetime, ia6t_preferred);
	FIELD(rump_in6_addrlifetime, ia6t_vltime);
	FIELD(rump_in6_addrlifetime, ia6t_pltime);
	SIZE(rump_in6_aliasreq);
	FIELD(rump_in6_aliasreq, ifra_name);
	FIELD(rump_in6_aliasreq, ifra_addr);
	FIELD(rump_in6_aliasreq, ifra_dstaddr);
	FIELD(rump_in6_aliasreq, ifra_prefixmask);
	FIELD(rump_in6_aliasreq, ifra_flags);
	FIELD(rump_in6_aliasreq, ifra_lifetime);
	SIZE(rump_timespec);
	FIELD(rump_timespec, tv_sec);
	FIELD(rump_timespec, tv_nsec);

	SIZE(rump_kinfo_file);
	FIELD(rump_kinfo_file, ki_fileaddr);
	FIELD(rump_kinfo_file, ki_flag);
	FIELD(rump_kinfo_file, ki_iflags);
	FIELD(rump_kinfo_file, ki_ftype);
	FIELD(rump_kinfo_file, ki_count);
	FIELD(rump_kinfo_file, ki_msgcount);
	FIELD(rump_kinfo_file, ki_usecount);
	FIELD(rump_kinfo_file, ki_fucred);
	FIELD(rump_kinfo_file, ki_fuid);
	FIELD(rump_kinfo_file, ki_fgid);
	FIELD(rump_kinfo_file, ki_fops);
	FIELD(rump_kinfo_file, ki_foffset);
	FIELD(rump_kinfo_file, ki_fdata);
	FIELD(rump_kinfo_file, ki_vun);
	FIELD(rump_kinfo_file, ki_vsize);
	FIELD(rump_kinfo_file, ki_vtype);
	FIELD(rump_kinfo_file, ki_vtag);
	FIELD(rump_kinfo_file, ki_vdata);
	FIELD(rump_kinfo_file, ki_pid);
	FIELD(rump_kinfo_file, ki_fd);
	FIELD(rump_kinfo_file, ki_ofileflags);
	FIELD(rump_kinfo_file, _ki_padto64bits);

	SIZE(rump_kinfo_proc2);
	FIELD(rump_kinfo_proc2, p_forw);
	FIELD(rump_kinfo_proc2, p_back);
	FIELD(rump_kinfo_proc2, p_paddr);
	FIELD(rump_kinfo_proc2, p_addr);
	FIELD(rump_kinfo_proc2, p_fd);
	FIELD(rump_kinfo_proc2, p_cwdi);
	FIELD(rump_kinfo_proc2, p_stats);
	FIELD(rump_kinfo_proc2, p_limit);
	FIELD(rump_kinfo_proc2, p_vmspace);
	FIELD(rump_kinfo_proc2, p_sigacts);
	FIELD(rump_kinfo_proc2, p_sess);
	FIELD(rump_kinfo_proc2, p_tsess);
	FIELD(rump_kinfo_proc2, p_ru);
	FIELD(rump_kinfo_proc2, p_eflag);
	FIELD(rump_kinfo_proc2, p_exitsig);
	FIELD(rump_kinfo_proc2, p_flag);
	FIELD(rump_kinfo_proc2, p_pid);
	FIELD(rump_kinfo_proc2, p_ppid);
	FIELD(rump_kinfo_proc2, p_sid);
	FIELD(rump_kinfo_proc2, p__pgid);
	FIELD(rump_kinfo_proc2, p_tpgid);
	FIELD(rump_kinfo_proc2, p_uid);
	FIELD(rump_kinfo_proc2, p_ruid);
	FIELD(rump_kinfo_proc2, p_gid);
	FIELD(rump_kinfo_proc2, p_rgid);
	FIELD(rump_kinfo_proc2, p_groups);
	FIELD(rump_kinfo_proc2, p_ngroups);
	FIELD(rump_kinfo_proc2, p_jobc);
	FIELD(rump_kinfo_proc2, p_tdev);
	FIELD(rump_kinfo_proc2, p_estcpu);
	FIELD(rump_kinfo_proc2, p_rtime_sec);
	FIELD(rump_kinfo_proc2, p_rtime_usec);
	FIELD(rump_kinfo_proc2, p_cpticks);
	FIELD(rump_kinfo_proc2, p_pctcpu);
	FIELD(rump_kinfo_proc2, p_swtime);
	FIELD(rump_kinfo_proc2, p_slptime);
	FIELD(rump_kinfo_proc2, p_schedflags);
	FIELD(rump_kinfo_proc2, p_uticks);
	FIELD(rump_kinfo_proc2, p_sticks);
	FIELD(rump_kinfo_proc2, p_iticks);
	FIELD(rump_kinfo_proc2, p_tracep);
	FIELD(rump_kinfo_proc2, p_traceflag);
	FIELD(rump_kinfo_proc2, p_holdcnt);
	FIELD(rump_kinfo_proc2, p_siglist);
	FIELD(rump_kinfo_proc2, p_sigmask);
	FIELD(rump_kinfo_proc2, p_sigignore);
	FIELD(rump_kinfo_proc2, p_sigcatch);
	FIELD(rump_kinfo_proc2, p_stat);
	FIELD(rump_kinfo_proc2, p_priority);
	FIELD(rump_kinfo_proc2, p_usrpri);
	FIELD(rump_kinfo_proc2, p_nice);
	FIELD(rump_kinfo_proc2, p_xstat);
	FIELD(rump_kinfo_proc2, p_acflag);
	FIELD(rump_kinfo_proc2, p_comm);
	FIELD(rump_kinfo_proc2, p_wmesg);
	FIELD(rump_kinfo_proc2, p_wchan);
	FIELD(rump_kinfo_proc2, p_login);
	FIELD(rump_kinfo_proc2, p_vm_rssize);
	FIELD(rump_kinfo_proc2, p_vm_tsize);
	FIELD(rump_kinfo_proc2, p_vm_dsize);
	FIELD(rump_kinfo_proc2, p_vm_ssize);
	FIELD(rump_kinfo_proc2, p_uvalid);
	FIELD(rump_kinfo_proc2, p_ustart_sec);
	FIELD(rump_kinfo_proc2, p_ustart_usec);
	FIELD(rump_kinfo_proc2, p_uutime_sec);
	FIELD(rump_kinfo_proc2, p_uutime_usec);
	FIELD(rump_kinfo_proc2, p_ustime_sec);
	FIELD(rump_kinfo_proc2, p_ustime_usec);
	FIELD(rump_kinfo_proc2, p_uru_maxrss);
	FIELD(rump_kinfo_proc2, p_uru_ixrss);
	FIELD(rump_kinfo_proc2, p_uru_idrss);
	FIELD(rump_kinfo_proc2, p_uru_isrss);
	FIELD(rump_kinfo_proc2, p_uru_minflt);
	FIELD(rump_kinfo_proc2, p_uru_majflt);
	FIELD(rump_kinfo_proc2, p_uru_nswap);
	FIELD(rump_kinfo_proc2, p_uru_inblock);
	FIELD(rump_kinfo_proc2, p_uru_oublock);
	FIELD(rump_kinfo_proc2, p_uru_msgsnd);
	FIELD(rump_kinfo_proc2, p_uru_msgrcv);
	FIELD(rump_kinfo_proc2, p_uru_nsignals);
	FIELD(rump_kinfo_proc2, p_uru_nvcsw);
	FIELD(rump_kinfo_proc2, p_uru_nivcsw);
	FIELD(rump_kinfo_proc2, p_uctime_sec);
	FIELD(rump_kinfo_proc2, p_uctime_usec);
	FIELD(rump_kinfo_proc2, p_cpuid);
	FIELD(rump_kinfo_proc2, p_realflag);
	FIELD(rump_kinfo_proc2, p_nlwps);
	FIELD(rump_kinfo_proc2, p_nrlwps);
	FIELD(rump_kinfo_proc2, p_realstat);
	FIELD(rump_kinfo_proc2, p_svuid);
	FIELD(rump_kinfo_proc2, p_svgid);
	FIELD(rump_kinfo_proc2, p_ename);
	FIELD(rump_kinfo_proc2, p_vm_vsize);
	FIELD(rump_kinfo_proc2, p_vm_msize);

	SIZE(rump_pollfd);
	FIELD(rump_pollfd, fd);
	FIELD(rump_pollfd, events);
	FIELD(rump_pollfd, revents);

	SIZE(rump_timeval);
	FIELD(rump_timeval, tv_sec);
	FIELD(rump_timeval, tv_usec);

	SIZE(rump_fd_set);
	FIELD(rump_fd_set, fds_bits);

	SIZE(rump_sigset);
	FIELD(rump_sigset, __bits);

	SIZE(rump_stat);
	FIELD(rump_stat, st_dev);
	FIELD(rump_stat, st_mode);
	FIELD(rump_stat, st_ino);
	FIELD(rump_stat, st_nlink);
	FIELD(rump_stat, st_uid);
	FIELD(rump_stat, st_gid);
	FIELD(rump_stat, st_rdev);
	FIELD(rump_stat, st_atim);
	FIELD(rump_stat, st_mtim);
	FIELD(rump_stat, st_ctim);
	FIELD(rump_stat, st_birthtim);
	FIELD(rump_stat, st_size);
	FIELD(rump_stat, st_blocks);
	FIELD(rump_stat, st_blksize);
	FIELD(rump_stat, st_flags);
	FIELD(rump_stat, st_gen);
	FIELD(rump_stat, st_spare);

	SIZE(rump_dirent);
	FIELD(rump_dirent, d_fileno);
	FIELD(rump_dirent, d_reclen);
	FIELD(rump_dirent, d_namlen);
	FIELD(rump_dirent, d_type);
	FIELD(rump_dirent, d_name);

	SIZE(rump_iovec);
	FIELD(rump_iovec, iov_base);
	FIELD(rump_iovec, iov_len);

	SIZE(rump_fsid);
	FIELD(rump_fsid, __fsid_val);

	SIZE(rump_statvfs);
	FIELD(rump_statvfs, f_flag);
	FIELD(rump_statvfs, f_bsize);
	FIELD(rump_statvfs, f_frsize);
	FIELD(rump_statvfs, f_iosize);
	FIELD(rump_statvfs, f_blocks);
	FIELD(rump_statvfs, f_bfree);
	FIELD(rump_statvfs, f_bavail);
	FIELD(rump_statvfs, f_bresvd);
	FIELD(rump_statvfs, f_files);
	FIELD(rump_statvfs, f_ffree);
	FIELD(rump_statvfs, f_favail);
	FIELD(rump_statvfs, f_fresvd);
	FIELD(rump_statvfs, f_syncreads);
	FIELD(rump_statvfs, f_syncwrites);
	FIELD(rump_statvfs, f_asyncreads);
	FIELD(rump_statvfs, f_asyncwrites);
	FIELD(rump_statvfs, f_fsidx);
	FIELD(rump_statvfs, f_fsid);
	FIELD(rump_statvfs, f_namemax);
	FIELD(rump_statvfs, f_owner);
	FIELD(rump_statvfs, f_spare);
	FIELD(rump_statvfs, f_fstypename);
	FIELD(rump_statvfs, f_mntonname);
	FIELD(rump_statvfs, f_mntfromname);
	FIELD(rump_statvfs, f_mntfromlabel);

	SIZE(rump_tmpfs_args);
	FIELD(rump_tmpfs_args, ta_version);
	FIELD(rump_tmpfs_args, ta_nodes_max);
	FIELD(rump_tmpfs_args, ta_size_max);
	FIELD(rump_tmpfs_args, ta_root_uid);
	FIELD(rump_tmpfs_args, ta_root_gid);
	FIELD(rump_tmpfs_args, ta_root_mode);

	SIZE(rump_ufs_args);
	FIELD(rump_ufs_args, fspec);

	SIZE(rump_msdosfs_args);
	FIELD(rump_msdosfs_args, fspec);
	FIELD(rump_msdosfs_args, _pad1);
	FIELD(rump_msdosfs_args, uid);
	FIELD(rump_msdosfs_args, gid);
	FIELD(rump_msdosfs_args, mask);
	FIELD(rump_msdosfs_args, flags);
	FIELD(rump_msdosfs_args, version);
	FIELD(rump_msdosfs_args, dirmask);
	FIELD(rump_msdosfs_args, gmtoff);

	SIZE(rump_iso_args);
	FIELD(rump_iso_args, fspec);
	FIELD(rump_iso_args, _pad1);
	FIELD(rump_iso_args, flags);

	SIZE(rump_sysctlnode_child);
	FIELD(rump_sysctlnode_child, suc_csize);
	FIELD(rump_sysctlnode_child, suc_clen);
	FIELD(rump_sysctlnode_child, suc_child);

	SIZE(rump_sysctlnode_data);
	FIELD(rump_sysctlnode_data, sud_data);
	FIELD(rump_sysctlnode_data, sud_offset);

	USIZE(rump_sysctlnode_un);
	UFIELD(rump_sysctlnode_un, scu_child);
	UFIELD(rump_sysctlnode_un, scu_data);
	UFIELD(rump_sysctlnode_un, scu_alias);
	UFIELD(rump_sysctlnode_un, scu_idata);
	UFIELD(rump_sysctlnode_un, scu_qdata);
	UFIELD(rump_sysctlnode_un, scu_bdata);

	SIZE(rump_sysctlnode);
	FIELD(rump_sysctlnode, sysctl_flags);
	FIELD(rump_sysctlnode, sysctl_num);
	FIELD(rump_sysctlnode, sysctl_name);
	FIELD(rump_sysctlnode, sysctl_ver);
	FIELD(rump_sysctlnode, __rsvd);
	FIELD(rump_sysctlnode, sysctl_un);
	FIELD(rump_sysctlnode, sysctl_size);
	FIELD(rump_sysctlnode, sysctl_func);
	FIELD(rump_sysctlnode, sysctl_parent);
	FIELD(rump_sysctlnode, sysctl_desc);

	SIZE(rump_usb_ctl_request);
	FIELD(rump_usb_ctl_request, ucr_addr);
	FIELD(rump_usb_ctl_request, ucr_request);
	FIELD(rump_usb_ctl_request, ucr_data);
	FIELD(rump_usb_ctl_request, ucr_flags);
	FIELD(rump_usb_ctl_request, ucr_actlen);

	SIZE(rump_usb_config_desc);
	FIELD(rump_usb_config_desc, ucd_config_index);
	FIELD(rump_usb_config_desc, ucd_desc);

	SIZE(rump_usb_ctl_report_desc);
	FIELD(rump_usb_ctl_report_desc, ucrd_size);
	FIELD(rump_usb_ctl_report_desc, ucrd_data);

	SIZE(rump_usb_ctl_report);
	FIELD(rump_usb_ctl_report, ucr_report);
	FIELD(rump_usb_ctl_report, ucr_data);

	SIZE(rump_usb_device_info);
	FIELD(rump_usb_device_info, udi_bus);
	FIELD(rump_usb_device_info, udi_addr);
	FIELD(rump_usb_device_info, udi_cookie);
	FIELD(rump_usb_device_info, udi_product);
	FIELD(rump_usb_device_info, udi_vendor);
	FIELD(rump_usb_device_info, udi_release);
	FIELD(rump_usb_device_info, udi_serial);
	FIELD(rump_usb_device_info, udi_productNo);
	FIELD(rump_usb_device_info, udi_vendorNo);
	FIELD(rump_usb_device_info, udi_releaseNo);
	FIELD(rump_usb_device_info, udi_class);
	FIELD(rump_usb_device_info, udi_subclass);
	FIELD(rump_usb_device_info, udi_protocol);
	FIELD(rump_usb_device_info, udi_config);
	FIELD(rump_usb_device_info, udi_speed);
	FIELD(rump_usb_device_info, udi_power);
	FIELD(rump_usb_device_info, udi_nports);
	FIELD(rump_usb_device_info, udi_devnames);
	FIELD(rump_usb_device_info, udi_ports);

	return 0;
}
