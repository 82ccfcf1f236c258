#!/bin/sh
# /lib/nbh/mounts: mount the NFS filesystems /etc/fstab lists, as a Pi's systemd does at
# boot - above all the boot partition, the server's /pxe/boot on /boot (seed 000: without
# it an apt-get upgrade can corrupt the root).  "/" and noauto lines are left alone.  A
# line that cannot be mounted is reported and the boot goes on, as systemd's
# remote-fs.target does; the smoke suite (tests_hw/test_smoke.py) finds it unmounted.
# The "nbh-init:" lines are matched by the harness: keep them exact.
. /lib/nbh/nodelib.sh
[ -r /etc/fstab ] || exit 0
status=0
while read -r spec file type opts _rest; do
    case "$spec" in '' | '#'*) continue ;; esac
    case "$type" in nfs | nfs4) ;; *) continue ;; esac
    [ "$file" = / ] && continue
    case ",$opts," in *,noauto,*) continue ;; esac
    if awk -v d="$file" '$2 == d { found = 1 } END { exit !found }' /proc/mounts; then
        continue  # run again by hand: already mounted
    fi
    # shellcheck disable=SC2046  # "<type> <options>": split on purpose
    set -- $(nbh_nfs_mount_args "$opts" "${spec%%:*}")
    mkdir -p "$file"
    if err=$(mount -t "$1" -o "$2" "$spec" "$file" 2>&1); then
        echo "nbh-init: mounted $spec on $file"
    else
        err=$(printf '%s' "$err" | tr '\n' ' ')
        echo "nbh-init: fstab mount failed $spec on $file: ${err##*failed: }"
        status=1
    fi
done </etc/fstab
exit $status
