#!/bin/sh
# /init of the netboot initramfs: load the NIC and NFS modules, DHCP, mount the NFS root
# named on the kernel command line, switch_root to its /sbin/init.
# Every "nbh-initramfs: ..." line is matched by the harness's stage judges: keep them
# exact.  Failures end in poweroff -f, so with panic=-1 and QEMU's -no-reboot a broken
# boot ends the VM instead of hanging it.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "nbh-initramfs: start"

die() {
    echo "nbh-initramfs: $*"
    poweroff -f
    sleep 5  # poweroff -f does not return; this only guards against it failing
    exit 1
}

while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$mod.ko" || echo "nbh-initramfs: insmod $mod failed"
done </lib/modules/order

. /lib/nbh/nfsroot.sh
nbh_parse_cmdline "$(cat /proc/cmdline)" ||
    die "no nfsroot=<server>:<path> on the kernel command line"

# NIC drivers probe as they load, but give slow (emulated) buses up to 10 s.
iface=''
tries=0
while :; do
    for dev in /sys/class/net/*; do
        [ "${dev##*/}" = lo ] || { iface=${dev##*/}; break; }
    done
    [ -n "$iface" ] && break
    tries=$((tries + 1))
    [ $tries -ge 100 ] && die "no network interface appeared"
    sleep 0.1
done

ip link set lo up
ip link set "$iface" up
# 5 DISCOVERs 3 s apart: a lease within 15 s or give up, well inside the DHCP deadline.
udhcpc -f -q -n -t 5 -T 3 -O hostname -i "$iface" -s /lib/nbh/udhcpc.sh ||
    die "dhcp failed on $iface"

mkdir -p /newroot
echo "nbh-initramfs: mounting $NBH_SERVER:$NBH_PATH type $NBH_FSTYPE options $NBH_OPTS"
# A server that is still starting refuses the connection at once: retry a little.
tries=0
until err=$(mount -t "$NBH_FSTYPE" -o "$NBH_OPTS" "$NBH_SERVER:$NBH_PATH" /newroot 2>&1); do
    tries=$((tries + 1))
    if [ $tries -ge 3 ]; then
        die "nfs root mount failed $NBH_SERVER:$NBH_PATH: $(printf '%s' "$err" | tr '\n' ' ')"
    fi
    sleep 1
done
echo "nbh-initramfs: nfs root mounted $NBH_SERVER:$NBH_PATH"

[ -x /newroot/sbin/init ] || die "no /sbin/init on the nfs root $NBH_SERVER:$NBH_PATH"
mount --move /dev /newroot/dev
umount /proc /sys
echo "nbh-initramfs: switching to /sbin/init"
exec switch_root /newroot /sbin/init
