"""The error types the command line turns into a one-line message and exit status 2.

The bottom layer: every package may import it, it imports nothing of the project."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and what to do about it."""


class DiskFull(UserError):
    """A write found no space left on its disk. Every run file is written atomically, so what was written
    before is intact and the job can be resumed once there is space again."""
