"""Fault injection in the emulated lab: every way a netboot is known to fail, put into a
running lab on purpose, booted, diagnosed, and taken out again.

:mod:`harness.faults.actions` holds the ways to break a lab (edit a file the server
reads and reload the daemon, move a boot file aside, stop a daemon, slow the link with
``tc netem``, drop the console, swap the power backend); :mod:`harness.faults.table`
declares one :class:`~harness.faults.model.Fault` per row of the fault matrix;
:mod:`harness.faults.runner` boots a node under a fault and observes its diagnosis;
:mod:`harness.faults.matrix` prints the matrix at the end of the run.
"""
