"""The temporary Prefect server's process: uvicorn, plus a watch on a pipe from the run that
started it. Run as a script by flows/temp_server.py (no capcover imports: it must start from
any directory with only Prefect's uvicorn installed).

The parent holds the pipe's only write end and never writes; when the parent process is gone,
however it ended (SIGKILL included), the kernel closes that end, the read here returns EOF and
this process exits at once. Process-level, unlike Linux's PR_SET_PDEATHSIG, which fires when
the *thread* that started the child ends (Prefect may start the server from a worker thread).
"""

import os
import sys
import threading

PIPE_ENV = "CAPCOVER_TEMP_SERVER_PARENT_FD"


def _exit_when_parent_is_gone(fd: int) -> None:
    while os.read(fd, 1):  # the parent never writes: only EOF (its death) returns
        pass
    os._exit(0)  # SQLite keeps the database consistent; nothing else to flush


def main(argv: list[str]) -> None:
    fd = int(os.environ.pop(PIPE_ENV))
    threading.Thread(target=_exit_when_parent_is_gone, args=(fd,), daemon=True).start()
    from uvicorn.main import main as uvicorn_main

    uvicorn_main(args=argv)  # exits 3 when the port is taken, as Prefect's own server does


if __name__ == "__main__":
    main(sys.argv[1:])
