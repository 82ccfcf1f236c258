# shellcheck shell=sh
# Kernel command line -> local root settings, and finding the root's block device.
# Sourced by the initramfs /init, and by the unit tests with a host sh, so it must stay
# plain POSIX sh (busybox ash, dash).
#
#   root=/dev/<name> | LABEL=<label> | UUID=<uuid> | PARTUUID=<disk id>-<nn>
#                       PARTUUID: MBR disks only (as Raspberry Pi OS images use)
#   rootfstype=<type>   default: whatever mount recognises
#   rootflags=<opts>    extra mount options
#   ro | rw             default ro, as with the kernel's own root mount
#
# Sets NBH_ROOT NBH_ROOTFSTYPE NBH_ROOTOPTS (what goes to mount -o).  Returns 1 if the
# command line names no local root: no root=, or root=/dev/nfs.
nbh_parse_localroot() {
    NBH_ROOT='' NBH_ROOTFSTYPE='' NBH_ROOTOPTS=ro
    _nbh_flags=''
    set -f  # the cmdline is split on blanks only; never glob it
    for _nbh_arg in $1; do
        case "$_nbh_arg" in
            root=*) NBH_ROOT=${_nbh_arg#root=} ;;
            rootfstype=*) NBH_ROOTFSTYPE=${_nbh_arg#rootfstype=} ;;
            rootflags=*) _nbh_flags=${_nbh_arg#rootflags=} ;;
            ro | rw) NBH_ROOTOPTS=$_nbh_arg ;;
        esac
    done
    set +f
    NBH_ROOTOPTS=$NBH_ROOTOPTS${_nbh_flags:+,$_nbh_flags}
    case "$NBH_ROOT" in
        '' | /dev/nfs | nfs) return 1 ;;
    esac
    return 0
}

# nbh_find_rootdev SPEC: print the device file of the root SPEC names.  Returns 1 while
# there is none (yet), 2 if SPEC is a form this initramfs cannot resolve.
# $NBH_SYS and $NBH_DEV stand for /sys and /dev in the unit tests.
nbh_find_rootdev() {
    case "$1" in
        /dev/*) [ -b "$1" ] && echo "$1" ;;
        LABEL=?* | UUID=?*) findfs "$1" 2>/dev/null ;;
        PARTUUID=????????-??) nbh_find_partuuid "${1#PARTUUID=}" ;;
        *) return 2 ;;
    esac
}

# nbh_find_partuuid ID-NN: partition NN (hex) of the MBR disk whose identifier (the four
# bytes at offset 440, little-endian) is ID.  Linux names such a partition's PARTUUID so.
nbh_find_partuuid() {
    _nbh_id=$(echo "${1%-*}" | tr 'ABCDEF' 'abcdef')
    _nbh_nr=$((0x${1#*-}))
    for _nbh_blk in "${NBH_SYS:-/sys}"/block/*; do
        _nbh_disk=${_nbh_blk##*/}
        _nbh_dev=${NBH_DEV:-/dev}/$_nbh_disk
        [ "$(_nbh_bytes "$_nbh_dev" 510 2)" = "55 aa" ] || continue
        # shellcheck disable=SC2046  # four words, one per byte
        set -- $(_nbh_bytes "$_nbh_dev" 440 4)
        [ "$4$3$2$1" = "$_nbh_id" ] || continue
        case "$_nbh_disk" in
            *[0-9]) _nbh_part=${_nbh_disk}p$_nbh_nr ;;  # mmcblk0 -> mmcblk0p2
            *) _nbh_part=$_nbh_disk$_nbh_nr ;;          # vda -> vda2
        esac
        if [ -e "${NBH_DEV:-/dev}/$_nbh_part" ]; then
            echo "${NBH_DEV:-/dev}/$_nbh_part"
            return 0
        fi
    done
    return 1
}

# _nbh_bytes FILE OFFSET COUNT: the bytes as blank-separated lower-case hex pairs.
_nbh_bytes() {
    dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null | od -An -tx1 | tr -s ' \n' '  ' |
        sed 's/^ //; s/ $//'
}
