"""Hooks for the lab suites: the fault matrix in the terminal summary (tests_hw/test_faults.py)."""

from harness.faults.matrix import pytest_terminal_summary

__all__ = ["pytest_terminal_summary"]
