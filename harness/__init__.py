"""netboot-harness: boot network-booted machines stage by stage and say why they fail."""

__version__ = "0.1.0"
