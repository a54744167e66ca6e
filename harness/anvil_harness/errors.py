"""The one error type the harness reports; the Verifier maps it to a stage and an error class."""


class HarnessError(Exception):
    """error_class is one of: usage, compile, api, runtime, numerical, violation."""

    def __init__(self, error_class, message, violations=None):
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.violations = violations or []
