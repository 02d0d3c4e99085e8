"""Which environment variables hold credentials: the suite clears them for every test
(``tests/conftest.py``). A module of its own, as ``conftest`` names collide between folders."""

from __future__ import annotations

SECRET_SUFFIXES = ("_API_KEY", "_API_TOKEN", "_ACCESS_TOKEN", "_AUTH_TOKEN", "_SECRET_KEY", "_SECRET_ACCESS_KEY",
                   "_SESSION_TOKEN")
SECRET_NAMES = frozenset({
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HUGGINGFACE_TOKEN",
    "GITHUB_TOKEN", "GH_TOKEN",
    "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID",
    "ANTHROPIC_BASE_URL", "GOOGLE_APPLICATION_CREDENTIALS",
})


def is_secret(name: str) -> bool:
    """Whether an environment variable holds a credential (or routes requests to a real service)."""
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)
