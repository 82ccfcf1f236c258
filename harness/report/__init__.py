"""Reports a lab engineer reads after a run: the run directory's ``run.json``, the HTML
report with a boot timeline per node, the boot-time history and its trend.

Everything here works from :class:`~harness.boot.record.BootRecord` objects, whether they
come from the session that just ran or are loaded back from a run's ``timeline.json``
files, so a report can be rebuilt from a run directory alone.
"""
