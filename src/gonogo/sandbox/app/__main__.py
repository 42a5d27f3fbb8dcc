"""`python -m gonogo.sandbox.app CONFIG.json`: serve the gateway on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from gonogo.sandbox.app.main import create_app
from gonogo.sandbox.app.state import AppConfig


def main() -> None:
    config = AppConfig.model_validate_json(Path(sys.argv[1]).read_text())
    uvicorn.run(
        create_app(config),
        host="127.0.0.1",
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
