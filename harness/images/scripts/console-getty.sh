#!/bin/sh
# Login prompt on the kernel console, whatever it is (ttyS0 on x86, ttyAMA0 on aarch64).
# /dev/console itself cannot be a controlling tty, so run getty on the device behind it:
# the last entry of /sys/class/tty/console/active.  Speed 0 keeps what console= set.
tty=$(cat /sys/class/tty/console/active 2>/dev/null)
tty=${tty##* }
exec /sbin/getty -L 0 "${tty:-console}" vt100
