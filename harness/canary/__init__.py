"""The canary boot: try a change of the production NFS root on one node first.

Seed 000 does it by hand: ``tftp-unique-root=ip`` in dnsmasq.conf, a copy of
``/pxe/boot`` in ``/pxe/boot/<ip>/``, a clone of ``/pxe/root``, and the copy's
``cmdline.txt`` pointing at the clone.  :mod:`.engine` does the same over the
provisioning transport, with the state on the server (:mod:`.state`), the server
configuration changed through a journaled apply (so ``discard`` restores it byte for
byte), and the production root swapped only on ``promote``.
"""
