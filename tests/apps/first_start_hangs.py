"""`python -m tests.apps.first_start_hangs CONFIG.json`: the gateway, except that its first
start never listens (as an app stuck in its startup would); the second serves."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gonogo.sandbox.app.__main__ import main

if __name__ == "__main__":
    marker = Path(sys.argv[1]).with_suffix(".started")
    if not marker.exists():
        marker.write_text("first start\n")
        print("first start: stuck before listening", flush=True)
        time.sleep(600)
    main()
