#!/bin/sh
# /lib/nbh/identity of the Pi Zero root: the Zero boots from its own SD card (no
# initramfs network), so it asks for its address and hostname itself, from the DHCP
# server of the WiFi access point, on its only network interface.  udhcpc keeps running
# in the background to renew the lease.  A failed DHCP does not stop the boot: the
# console login still works.
# The "nbh-init:" lines are matched by the harness's stage judges: keep them exact.
. /lib/nbh/nodelib.sh

# The NIC driver was loaded by the initramfs; give a slow bus up to 10 s to show it.
tries=0
until iface=$(nbh_first_iface); do
    tries=$((tries + 1))
    if [ $tries -ge 100 ]; then
        echo "nbh-init: dhcp failed: no network interface appeared"
        exit 0
    fi
    sleep 0.1
done
ip link set "$iface" up
# 5 DISCOVERs 3 s apart, as in the initramfs; once bound, udhcpc forks to renew.
NBH_TAG=nbh-init udhcpc -n -t 5 -T 3 -O hostname -i "$iface" -p /run/udhcpc.pid \
    -s /lib/nbh/udhcpc.sh ||
    echo "nbh-init: dhcp failed on $iface"
