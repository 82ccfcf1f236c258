#!/bin/sh
# /lib/nbh/identity of the Raspberry Pi netboot root: the cluster names a node after its
# geographical position, which /opt/mac_nodes gives for eth0's MAC ("2 b8:27:eb:..." ->
# node02).  A MAC that is not in the table keeps the hostname it has (from DHCP, or
# none), and the boot goes on so the node can still be reached over SSH.
# The "nbh-init:" lines are matched by the harness's stage judges: keep them exact.
. /lib/nbh/nodelib.sh
TABLE=/opt/mac_nodes

iface=$(nbh_first_iface)
if [ -z "$iface" ]; then
    echo "nbh-init: identity no network interface"
    exit 0
fi
read -r mac <"/sys/class/net/$iface/address"
if position=$(nbh_mac_position "$mac" "$TABLE"); then
    name=$(nbh_node_name "$position")
    echo "nbh-init: identity mac=$mac position=$position hostname=$name"
    hostname "$name"
else
    echo "nbh-init: identity mac=$mac not in $TABLE"
fi
