"""The verification gate: checks over the whole masked output before anything is published."""

from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.output import Output

__all__ = ["CheckResult", "Output", "VerificationReport", "VerifySettings"]
