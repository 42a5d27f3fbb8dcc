"""GitHub's REST API, read-only: a commit's check runs, its combined status, a comparison.

Through the one transport seam (HttpClient: deadline, body cap, requests.jsonl),
with GitHub's documented headers. Every answer that is not what the description
says becomes one line naming the URL and the fix: 401 (the token), 403/429 with
`x-ratelimit-remaining: 0` (the rate limit and when it resets), 404 (the repo or
ref), anything else with GitHub's own `message`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx

from gonogo.clients.http import HttpClient
from gonogo.errors import TargetError

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PER_PAGE = 100
_SHA = re.compile(r"[0-9a-f]{40}")
# A commit with more check runs than this is not one gonogo can judge in one run.
MAX_PAGES = 20


class GitHub:
    def __init__(self, http: HttpClient, repo: str, token_variable: str | None) -> None:
        self.http = http
        self.repo = repo
        self.token_variable = token_variable

    def commit_sha(self, ref: str) -> str:
        """The commit a ref names now (a branch moves; a tag can be re-pointed): the SHA the
        check runs must be of. GitHub's `application/vnd.github.sha` answer is the bare SHA."""
        response = self._get(
            f"/repos/{self.repo}/commits/{ref}", None, accept="application/vnd.github.sha"
        )
        text = response.text.strip()
        if not _SHA.fullmatch(text):
            body = _json(response) if text.startswith("{") else None
            text = str(body.get("sha", "")) if isinstance(body, dict) else ""
        if not _SHA.fullmatch(text):
            raise TargetError(
                f"{response.url}: the answer names no commit SHA (40 hex); is api_url GitHub's "
                "REST API (like https://api.github.com)?"
            )
        return text

    def check_runs(self, ref: str) -> list[dict[str, Any]]:
        """Every check run of the commit, following the Link header's next pages."""
        url: str | None = f"/repos/{self.repo}/commits/{ref}/check-runs"
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        runs: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return runs
            response = self._get(url, params)
            page = _json(response)
            found = page.get("check_runs") if isinstance(page, dict) else None
            if not isinstance(found, list):
                raise TargetError(
                    f"{response.url}: no check_runs list in the answer; is api_url GitHub's "
                    f"REST API (like https://api.github.com)?"
                )
            runs += [r for r in found if isinstance(r, dict)]
            url = response.links.get("next", {}).get("url")
            if url is not None and not url.startswith(self.http.base_url + "/"):
                # The bearer token goes with every request of this client: never elsewhere.
                raise TargetError(
                    f"{response.url}: the next page is on another host ({url}); not followed"
                )
            params = None  # the next link carries them
        raise TargetError(
            f"{self.repo}@{ref} has more than {MAX_PAGES * PER_PAGE} check runs; "
            "gonogo reads at most that many"
        )

    def combined_status(self, ref: str) -> dict[str, Any]:
        """The commit's statuses (the older API some CI systems still report through)."""
        response = self._get(f"/repos/{self.repo}/commits/{ref}/status", {"per_page": PER_PAGE})
        body = _json(response)
        if not isinstance(body, dict):
            raise TargetError(f"{response.url}: the combined status is not a JSON object")
        return body

    def changed_files(self, base: str, head: str) -> list[str]:
        """The files that differ between two commits (GitHub lists up to 300)."""
        response = self._get(f"/repos/{self.repo}/compare/{base}...{head}", None)
        body = _json(response)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list):
            raise TargetError(f"{response.url}: no files list in the comparison")
        return [str(f.get("filename")) for f in files if isinstance(f, dict)]

    def _get(
        self, path: str, params: dict[str, Any] | None, accept: str | None = None
    ) -> httpx.Response:
        headers = {**HEADERS, "Accept": accept} if accept else HEADERS
        response = self.http.get(path, params=params, headers=headers)
        if response.status_code == 200:
            return response
        message = _message(response)
        where = str(response.url)
        if response.status_code == 401:
            token = self.token_variable or "[ci] token_env"
            raise TargetError(
                f"GitHub refused the token for {where} (401 {message}); check {token}: "
                "it needs read access to the repository's checks and statuses"
            )
        remaining = response.headers.get("x-ratelimit-remaining")
        if response.status_code in (403, 429) and (remaining == "0" or "rate limit" in message):
            reset = response.headers.get("x-ratelimit-reset", "")
            at = (
                dt.datetime.fromtimestamp(int(reset), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if reset.isdigit()
                else "an unknown time"
            )
            raise TargetError(
                f"GitHub's API rate limit is used up ({response.status_code} at {where}; resets "
                f"at {at}); wait, or set [ci] token_env to a token with a higher limit"
            )
        if response.status_code == 404:
            raise TargetError(
                f"GitHub has no {where} (404 {message}); check [ci] repo and the release "
                "commit, and that the token can see the repository"
            )
        raise TargetError(f"GitHub answered {response.status_code} at {where}: {message}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or "(no body)"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else response.text[:200].strip() or "(no body)"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TargetError(f"{response.url}: the answer is not JSON") from None
