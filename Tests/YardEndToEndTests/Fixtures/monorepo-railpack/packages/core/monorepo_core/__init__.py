"""The backend's core package: what the backend says about itself."""

import sys

import six


def describe() -> str:
    python = ".".join(str(part) for part in sys.version_info[:2])
    return f"core 0.1.0 on python {python}, six {six.__version__}"
