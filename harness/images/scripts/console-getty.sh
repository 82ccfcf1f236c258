#!/bin/sh
# Login prompt on the kernel console, whatever it is (ttyS0 on x86, ttyAMA0 on aarch64).
# /dev/console itself cannot be a controlling tty, so run getty on the device behind it:
# the last entry of /sys/class/tty/console/active.  Speed 0 keeps what console= set.
tty=$(cat /sys/class/tty/console/active 2>/dev/null)
tty=${tty##* }
# A console with no device node of its own still works as /dev/console (without job
# control): on the Pi 3 device tree the PL011 (ttyAMA0) belongs to the serial device bus,
# for Bluetooth, so the kernel prints there but makes no /dev/ttyAMA0.
[ -n "$tty" ] && [ -c "/dev/$tty" ] || tty=console
exec /sbin/getty -L 0 "$tty" vt100
