#!/bin/sh
# sysinit of the node root.  Every node mounts this same tree over NFS, so anything a node
# writes for itself (pid files, ptys, temp files) goes to its own tmpfs, never the tree.
# Every "nbh-init: ..." line is matched by the harness's stage judges: keep them exact.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
# (this busybox has no mountpoint applet: test for something each filesystem provides)
[ -e /proc/mounts ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
# The initramfs moves its devtmpfs here; a kernel-mounted NFS root (no initramfs) may not.
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
# dropbear needs ptys for interactive sessions
[ -e /dev/pts/ptmx ] || mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/log /run/lock
ip link set lo up 2>/dev/null

echo "nbh-init: userspace started"
# Steps only some roots have (the x86 root has none: its hostname came from the
# initramfs's DHCP).  The Raspberry Pi roots bring the cluster's own boot steps:
#   /lib/nbh/identity      who this node is: sets the hostname (MAC table, or DHCP)
#   /lib/nbh/mounts        the NFS lines of /etc/fstab (the boot partition on /boot)
#   /opt/mount_content.sh  the node's individual content directory and its lastrun record
#   /lib/nbh/led           the LED the cluster switches on once a node is up
[ -x /lib/nbh/identity ] && /lib/nbh/identity
echo "nbh-init: hostname $(hostname)"
# the NFS mounts /etc/fstab lists (the boot partition on /boot)
[ -x /lib/nbh/mounts ] && /lib/nbh/mounts
# The last "/" entry is the one in effect (an initramfs rootfs may be listed before it).
awk '$2 == "/" { src = $1; type = $3 } END { print "nbh-init: root " src " type " type }' /proc/mounts
[ -x /opt/mount_content.sh ] && /opt/mount_content.sh
# init starts dropbear (respawn in /etc/inittab) as soon as this script returns.
echo "nbh-init: sshd starting"
[ -x /lib/nbh/led ] && /lib/nbh/led on
echo "nbh-init: ready"
