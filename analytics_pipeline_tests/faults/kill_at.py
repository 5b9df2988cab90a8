"""Run ``analytics-pipeline ARGS…`` and SIGKILL this process at one chosen file operation (a test helper).

    python kill_at.py CALL REGEX N -- run

CALL is ``replace`` (``os.replace``, the publish step of every atomic write: a temp file or a staged
batch renamed over its final name) or ``remove`` (``os.remove``, staging files deleted after a merge).
The N-th call whose target matches REGEX (``SRC -> DST`` for ``replace``, the path for ``remove``)
kills the process before the call happens, as a power cut or the OOM killer would. Only the kill is added: every call before it
goes through unchanged, and the product code is not touched.
"""

import os
import re
import signal
import sys


def arm(call: str, pattern: str, nth: int) -> None:
    real = getattr(os, call)
    seen = 0

    def guarded(*args, **kwargs):
        nonlocal seen
        target = f"{args[0]} -> {args[1]}" if call == "replace" else str(args[0])
        if re.search(pattern, target):
            seen += 1
            if seen == nth:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(os, call, guarded)


if __name__ == "__main__":
    call, pattern, nth, separator, *command = sys.argv[1:]
    assert separator == "--" and call in ("replace", "remove"), __doc__
    arm(call, pattern, int(nth))
    from analytics_pipeline.cli import main

    sys.exit(main(command))
