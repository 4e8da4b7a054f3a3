"""The exit codes of every ``cinemap`` command, in one place.

0 success, 1 a file could not be used or written (one line on stderr says
why), 2 wrong usage, 3 the GUI could not start, 130 stopped by Ctrl+C (the
shell's 128 + SIGINT).
"""

EXIT_OK = 0
EXIT_FILE_ERROR = 1
EXIT_USAGE = 2
EXIT_GUI_ERROR = 3
EXIT_INTERRUPTED = 130
