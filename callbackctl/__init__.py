"""callbackctl: deploy, drive and watch the callback-pattern stack; model and measure its cost."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stepfunctions-callback-pattern")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0+unknown"
