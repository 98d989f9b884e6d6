"""The package's local Messages API server, under the name the tests import."""

from autoresearch.server import FAULTS, MessagesServer, default_reply  # noqa: F401
