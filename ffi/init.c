/* PID-1 duties the Deno runtime has no API for: power (reboot(2)), kernel modules
 * (finit_module(2)), network interface set-up (classic ioctls). Signals and reaping: reap.c. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "acond_shim.h"

/* cmd: RB_POWER_OFF, RB_AUTOBOOT (restart) or RB_DISABLE_CAD (ctrl-alt-del sends SIGINT to init). */
int32_t shim_reboot(uint32_t cmd) { return SHIM_RET(reboot((int)cmd)); }

/* Loads a module file; flags 4 (MODULE_INIT_COMPRESSED_FILE) lets the kernel decompress it. */
int32_t shim_finit_module(const char *path, const char *params, int32_t flags) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  long r = syscall(SYS_finit_module, fd, params ? params : "", flags);
  int err = errno;
  close(fd);
  return r < 0 ? -err : 0;
}

static int ifreq_for(struct ifreq *ifr, const char *name) {
  memset(ifr, 0, sizeof *ifr);
  if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
  strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
  return 0;
}

static void set_sin(struct sockaddr *sa, uint32_t addr_be) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = addr_be;
  memcpy(sa, &sin, sizeof sin);
}

/* One SIOC* ioctl on a throwaway AF_INET datagram socket (the ioctls' required handle). */
static int inet_ioctl(unsigned long req, void *arg) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int r = ioctl(s, req, arg) < 0 ? -errno : 0;
  close(s);
  return r;
}

/* Configures an interface in one call (each FFI symbol costs its binding at boot): the IPv4
 * address and netmask unless addr_be is 0, IFF_UP, then the default route through gw_be unless
 * it is 0 (all in network byte order). Returns -errno and which step failed (*step: IF_STEP_*). */
int32_t shim_if_config(const char *name, uint32_t addr_be, uint32_t mask_be, uint32_t gw_be,
                       int32_t *step) {
  struct ifreq ifr;
  int r = ifreq_for(&ifr, name);
  *step = IF_STEP_ADDRESS;
  if (r < 0) return r;
  if (addr_be) {
    set_sin(&ifr.ifr_addr, addr_be);
    if ((r = inet_ioctl(SIOCSIFADDR, &ifr)) < 0) return r;
    set_sin(&ifr.ifr_netmask, mask_be);
    if ((r = inet_ioctl(SIOCSIFNETMASK, &ifr)) < 0) return r;
  }
  *step = IF_STEP_UP;
  if ((r = inet_ioctl(SIOCGIFFLAGS, &ifr)) < 0) return r;
  ifr.ifr_flags |= IFF_UP;
  if ((r = inet_ioctl(SIOCSIFFLAGS, &ifr)) < 0) return r;
  if (!gw_be) return 0;
  *step = IF_STEP_ROUTE;
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  set_sin(&rt.rt_dst, 0);
  set_sin(&rt.rt_genmask, 0);
  set_sin(&rt.rt_gateway, gw_be);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  return inet_ioctl(SIOCADDRT, &rt);
}
