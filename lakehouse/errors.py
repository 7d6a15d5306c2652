"""The project's error base class."""


class LakehouseError(Exception):
    """A problem with the input, configuration or tables that the user can fix.

    Entry points print these as one clear message (no traceback) and exit non-zero.
    """
