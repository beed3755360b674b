"""The HTTP service's settings: the library's, plus keys, CORS, limits; same ``RAG_*`` variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator

from rag.settings import Settings


class ApiSettings(Settings):
    """Settings of `rag serve`, e.g. ``RAG_API_KEYS='["s3cret"]' RAG_CORS_ORIGINS='["https://example.org"]'``."""

    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Bearer keys allowed to add and delete documents (a JSON list). Empty: every write is refused.",
    )
    read_auth: bool = Field(
        False, description="Require one of api_keys for reads too (asking, listing and reading documents)."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins of the sites whose pages may call the API, e.g. the sites embedding the widget "
        '(a JSON list: \'["https://example.org"]\'). Empty: only same-origin pages.',
    )
    cors_allow_credentials: bool = Field(
        False, description="Let browsers send cookies and HTTP auth cross-origin; never together with origin '*'."
    )
    rate_limit: str = Field(
        "120/minute",
        description="Requests one client (IP address) may make to /v1/*, in `limits` syntax, e.g. "
        "'60/minute;1000/day'. Behind a proxy, the client is read from X-Forwarded-For when the proxy's "
        "address is in uvicorn's FORWARDED_ALLOW_IPS (default 127.0.0.1).",
    )
    rate_limit_storage: str = Field(
        "memory://", description="Where request counts are kept: 'memory://' (per process) or a shared store "
        "such as 'redis://host:6379' when several processes serve the API.",
    )
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Larger request bodies are refused with 413.")
    max_in_flight: int = Field(
        64, ge=1, description="Requests handled at once; more are refused at once with 503 and Retry-After "
        "rather than queued (probes and /metrics are not counted).",
    )
    index_poll_seconds: float = Field(
        2.0, gt=0, description="How often to look for an index generation written by another process (`rag index`)."
    )
    verify_seconds: float = Field(
        3600.0, gt=0, description="How often to check the served index's files on disk against their checksums "
        "again (answers come from the copy checked at load; this finds damage before a restart meets it).",
    )

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        parse_many(value)  # fail at start-up on a typo, not on the first request
        return value

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> "ApiSettings":
        # Browsers refuse '*' with credentials, and echoing any origin instead would let every site act as the user.
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("cors_origins may not contain '*' when cors_allow_credentials is true: list the origins")
        return self


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
