"""Which repositories live on GitHub: `owner/name` or `<web url>/owner/name`; a path is local."""

from __future__ import annotations

import re

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_NAME = r"[A-Za-z0-9._-]{1,100}"
_SHORT = re.compile(rf"^(?P<full>{_OWNER}/{_NAME})$")


def github_repo(repo: str, web_url: str = "https://github.com") -> str | None:
    """`owner/name` when `repo` names a GitHub repository, else None (a local path or another
    git URL). A string starting with `/`, `.` or `~` is always a path."""
    text = repo.strip()
    if not text or text[0] in "/.~":
        return None
    for base in {web_url.rstrip("/"), "https://github.com"}:
        prefix = base + "/"
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix) :].removesuffix("/").removesuffix(".git")
            break
    else:
        if "://" in text or "@" in text:
            return None
    match = _SHORT.match(text)
    if not match or text.endswith((".", ".git")) or ".." in text:
        return None
    return match["full"]
