# shellcheck shell=sh
# Kernel command line -> NFS root settings.  Sourced by the initramfs /init, and by the
# unit tests with a host sh, so it must stay plain POSIX sh (busybox ash, dash).
#
#   nfsroot=<server>:<path>[,<options>]   required; Pi style options after a comma
#   nfstype=<type>                         default nfs4, or nfs when the options ask for v2/v3
#   nfsopts=<options>                      default vers=4.2 (joined with the comma options)
#   root=/dev/nfs                          accepted and ignored (Raspberry Pi cmdline.txt)
#
# Sets NBH_SERVER NBH_PATH NBH_FSTYPE NBH_OPTS; NBH_OPTS is exactly what goes to mount -o:
# v2/v3 get nolock (no statd in an initramfs) unless lock/nolock is given, and every
# mount gets addr=<server> because busybox mount passes options to the kernel as text and
# the kernel needs the address there.  Returns 1 if there is no usable nfsroot=.
nbh_parse_cmdline() {
    NBH_SERVER='' NBH_PATH='' NBH_FSTYPE='' NBH_OPTS=''
    _nbh_root='' _nbh_type='' _nbh_opts='' _nbh_extra=''
    set -f  # the cmdline is split on blanks only; never glob it
    for _nbh_arg in $1; do
        case "$_nbh_arg" in
            nfsroot=*) _nbh_root=${_nbh_arg#nfsroot=} ;;
            nfstype=*) _nbh_type=${_nbh_arg#nfstype=} ;;
            nfsopts=*) _nbh_opts=${_nbh_arg#nfsopts=} ;;
        esac
    done
    set +f
    case "$_nbh_root" in
        *,*) _nbh_extra=${_nbh_root#*,}; _nbh_root=${_nbh_root%%,*} ;;
    esac
    case "$_nbh_root" in
        ?*:/*) ;;
        *) return 1 ;;
    esac
    NBH_SERVER=${_nbh_root%%:*}
    NBH_PATH=${_nbh_root#*:}
    NBH_OPTS=$_nbh_opts
    if [ -n "$_nbh_extra" ]; then
        NBH_OPTS=${NBH_OPTS:+$NBH_OPTS,}$_nbh_extra
    fi
    NBH_OPTS=${NBH_OPTS:-vers=4.2}
    _nbh_v23=no
    case ",$NBH_OPTS," in
        *,vers=2,* | *,vers=3,* | *,nfsvers=2,* | *,nfsvers=3,*) _nbh_v23=yes ;;
    esac
    if [ -n "$_nbh_type" ]; then
        NBH_FSTYPE=$_nbh_type
    elif [ $_nbh_v23 = yes ]; then
        NBH_FSTYPE=nfs
    else
        NBH_FSTYPE=nfs4
    fi
    if [ $_nbh_v23 = yes ]; then
        case ",$NBH_OPTS," in
            *,lock,* | *,nolock,*) ;;
            *) NBH_OPTS=$NBH_OPTS,nolock ;;
        esac
    fi
    case ",$NBH_OPTS," in
        *,addr=*) ;;
        *) NBH_OPTS=$NBH_OPTS,addr=$NBH_SERVER ;;
    esac
    return 0
}
