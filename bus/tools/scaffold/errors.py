"""What goes wrong before anything is written."""


class ScaffoldError(ValueError):
    """The request cannot be carried out (a bad name, an unknown event, a name taken);
    the message is one line saying why, and nothing has been written."""
