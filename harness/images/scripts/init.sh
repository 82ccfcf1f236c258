#!/bin/sh
# /init of the initramfs: load the modules, mount the root the kernel command line names,
# switch_root to its /sbin/init.  Two kinds of root:
#   NFS    nfsroot=<server>:<path>[,<options>] (root=/dev/nfs or no root=): bring up the
#          first NIC with DHCP, then mount over NFS (see nfsroot.sh)
#   local  root=<device> (/dev/vda, LABEL=, UUID=, PARTUUID=; see localroot.sh): wait for
#          the block device, mount it; no network (the root's own init does that)
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
. /lib/nbh/localroot.sh
cmdline=$(cat /proc/cmdline)
mkdir -p /newroot

# Bounded, unlike the kernel's rootwait: a missing disk ends the boot with a reason.
ROOTWAIT_S=30
if nbh_parse_localroot "$cmdline"; then
    echo "nbh-initramfs: waiting for root $NBH_ROOT"
    tries=0
    until dev=$(nbh_find_rootdev "$NBH_ROOT"); do
        [ $? -eq 2 ] && die "root mount failed $NBH_ROOT: cannot resolve this root=" \
            "(use /dev/<name>, LABEL=, UUID= or an MBR PARTUUID=)"
        tries=$((tries + 1))
        [ $tries -ge $((ROOTWAIT_S * 10)) ] &&
            die "root mount failed $NBH_ROOT: no such device after $ROOTWAIT_S s"
        sleep 0.1
    done
    if ! err=$(mount ${NBH_ROOTFSTYPE:+-t "$NBH_ROOTFSTYPE"} -o "$NBH_ROOTOPTS" "$dev" /newroot 2>&1)
    then
        err=$(printf '%s' "$err" | tr '\n' ' ')
        die "root mount failed $dev: ${err##*failed: }"
    fi
    fstype=$(awk '$2 == "/newroot" { t = $3 } END { print t }' /proc/mounts)
    echo "nbh-initramfs: root mounted $dev type $fstype"
    [ -x /newroot/sbin/init ] || die "no /sbin/init on the root $dev"
    mount --move /dev /newroot/dev
    umount /proc /sys
    echo "nbh-initramfs: switching to /sbin/init"
    exec switch_root /newroot /sbin/init
fi

nbh_parse_cmdline "$cmdline" ||
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
