"""The public test kit of dtms: the broker conformance suite and a call recorder."""

from dtms.testing.check_broker import check_broker
from dtms.testing.recording import Call, Recorder

__all__ = ["Call", "Recorder", "check_broker"]
