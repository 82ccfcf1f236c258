# shellcheck shell=sh
# Functions the Raspberry Pi roots' boot scripts share (sourced from /lib/nbh/nodelib.sh).
# Plain POSIX sh: the unit tests run it with the host's sh and busybox sh.

# The interface the cluster identifies a node by: eth0, else (a USB or renamed NIC) the
# first one that is not lo.  Prints nothing if there is none yet.  $NBH_SYS: tests only.
nbh_first_iface() {
    _nbh_net=${NBH_SYS:-/sys}/class/net
    if [ -e "$_nbh_net/eth0" ]; then
        echo eth0
        return 0
    fi
    for _nbh_dev in "$_nbh_net"/*; do
        [ -e "$_nbh_dev" ] || continue
        [ "${_nbh_dev##*/}" = lo ] && continue
        echo "${_nbh_dev##*/}"
        return 0
    done
    return 1
}

# nbh_mac_position MAC TABLE: the position of MAC in the cluster's /opt/mac_nodes, whose
# lines are "<position> <mac>" (blanks or tabs; "#" starts a comment).  MACs compare
# case-insensitively, with ":" or "-" between the bytes.  Prints the position as a plain
# decimal number (leading zeros dropped); returns 1 if the MAC is not in the table (or
# there is no table).
nbh_mac_position() {
    [ -r "$2" ] || return 1
    awk -v mac="$1" '
        function norm(m) { m = tolower(m); gsub(/-/, ":", m); return m }
        BEGIN { want = norm(mac) }
        { sub(/#.*/, "") }
        NF >= 2 && $1 ~ /^[0-9]+$/ && norm($2) == want { print $1 + 0; found = 1; exit }
        END { exit found ? 0 : 1 }
    ' "$2"
}

# nbh_node_name POSITION: the cluster's hostname for a position, zero-padded to two
# digits: 2 -> node02, 17 -> node17.
nbh_node_name() {
    printf 'node%02d\n' "$1"
}

# nbh_nfs_mount_args OPTIONS SERVER: the type and options busybox mount needs for an NFS
# line of /etc/fstab, printed as "<type> <options>".  busybox hands the options to the
# kernel as text, so what only mount(8) understands goes (defaults, auto, nofail,
# _netdev, x-...), addr=<server> comes in, v2/v3 get nolock (no statd on a node) and type
# nfs, anything else nfs4.
nbh_nfs_mount_args() {
    _nbh_out='' _nbh_v23=no
    _nbh_ifs=$IFS
    IFS=,
    set -f
    for _nbh_o in $1; do
        case "$_nbh_o" in
            '' | defaults | auto | nofail | _netdev | user | nouser | x-*) continue ;;
            vers=2 | vers=3 | nfsvers=2 | nfsvers=3) _nbh_v23=yes ;;
        esac
        _nbh_out=${_nbh_out:+$_nbh_out,}$_nbh_o
    done
    set +f
    IFS=$_nbh_ifs
    if [ $_nbh_v23 = yes ]; then
        case ",$_nbh_out," in
            *,lock,* | *,nolock,*) ;;
            *) _nbh_out=${_nbh_out:+$_nbh_out,}nolock ;;
        esac
        _nbh_type=nfs
    else
        _nbh_type=nfs4
    fi
    case ",$_nbh_out," in
        *,addr=*) ;;
        *) _nbh_out=${_nbh_out:+$_nbh_out,}addr=$2 ;;
    esac
    echo "$_nbh_type $_nbh_out"
}
