"""Repository-level pytest configuration for tests/ (the harness's own tests) and
tests_hw/ (the suites run against a testbed).

The harness plugin is registered through its ``pytest11`` entry point when the package
is installed (``make venv``); with plugin autoloading disabled it is registered here.
``pytester`` runs whole pytest sessions to test the plugin.
"""

import os

pytest_plugins = ["pytester"]
if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins.append("harness.plugin")
