"""One settings object: command-line options, then ``GENQ_*`` environment, then the TOML file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from genq import limits
from genq.errors import ConfigError
from genq.http.dialects.dialect import DialectTable, dialect_table
from genq.http.dialects.registry import DIALECTS
from genq.models.base import DEFAULT_REFERENCE_MAX_BYTES, DEFAULT_REFERENCE_MAX_PIXELS

if TYPE_CHECKING:
    Dialects = DialectTable
else:
    # One field per registered dialect, typed by its own settings model: mypy sees only the
    # base, whose ``settings.dialects[name]`` is how code reads one.
    Dialects = dialect_table(DIALECTS)


class Settings(BaseSettings):
    """Every knob genq has. Each field is documented in the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="GENQ_", env_nested_delimiter="__", extra="forbid")

    # Set by ``load`` so that the TOML source knows which file to read.
    _toml_file: ClassVar[Path | None] = None

    data_dir: Path = Field(default=Path.home() / ".genq")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=2, ge=0)
    db: str | None = None
    storage: str | None = None
    public_url: str | None = None
    #: A PEM certificate (chain) and its private key: ``genq serve`` answers HTTPS with
    #: them (both or neither, ``genq.server.check_tls``; None: plain HTTP).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    secret: str | None = None
    retention_seconds: float = Field(default=24 * 3600, gt=0)
    link_ttl_seconds: float = Field(default=3600, gt=0)
    cancel_grace_seconds: float = Field(default=10.0, ge=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_json_depth: int = Field(default=limits.DEFAULT_JSON_DEPTH, ge=2, le=200)
    max_metadata_bytes: int = Field(default=limits.DEFAULT_METADATA_BYTES, ge=2)
    max_metadata_keys: int = Field(default=limits.DEFAULT_METADATA_KEYS, ge=0)
    max_metadata_depth: int = Field(default=limits.DEFAULT_METADATA_DEPTH, ge=1, le=200)
    max_text_chars: int = Field(default=limits.DEFAULT_TEXT_CHARS, gt=0)
    max_list_bytes: int = Field(default=limits.DEFAULT_LIST_BYTES, gt=0)
    #: New jobs are refused (503 storage_full) while the disk their outputs go to has less
    #: free space than this, in bytes (``genq.service.disk_guard``); 0: never.
    min_free_disk_bytes: int = Field(default=1 << 30, ge=0)
    progress_interval_seconds: float = Field(default=0.1, ge=0)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    reference_max_bytes: int = Field(default=DEFAULT_REFERENCE_MAX_BYTES, gt=0)
    reference_max_pixels: int = Field(default=DEFAULT_REFERENCE_MAX_PIXELS, gt=0)
    reference_allow_private: bool = False
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_seconds: float = Field(default=24 * 3600, gt=0)
    webhook_backoff_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_host_concurrency: int = Field(default=4, ge=1)
    #: Networks whose clients may read /metrics without an admin key (loopback always may).
    metrics_allow: list[IPvAnyNetwork] = Field(default_factory=list)
    #: Where ``genq worker`` serves its figures at /metrics, to anyone who reaches it; None:
    #: nowhere.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    #: An account's limits unless an admin set its own (``genq.account_limits``): jobs
    #: running at once, jobs queued at once, bytes its stored outputs hold. None or 0: none.
    max_running_per_account: int | None = Field(default=None, ge=0)
    max_queued_per_account: int | None = Field(default=None, ge=0)
    storage_quota_bytes: int | None = Field(default=None, ge=0)
    #: Requests per second per key, unless its account has its own (``genq.service.rate_limits``);
    #: None: no limit. The burst: how many may come at once (None: twice the rate, at least 1).
    #: With N API processes, ``rate_limit_processes = N`` gives each its share of both.
    rate_limit_per_second: float | None = Field(default=None, ge=0)
    rate_limit_burst: int | None = Field(default=None, ge=0)
    rate_limit_processes: int = Field(default=1, ge=1)
    #: Fair shares of worker time (``genq.store.fair``): waiting this long lifts a job one
    #: priority level (0: never), and an idle account comes back at most this many worker
    #: seconds behind the others.
    fair_share_aging_seconds: float = Field(default=300.0, ge=0)
    fair_share_credit_seconds: float = Field(default=30.0, ge=0)
    model_memory_gb: float | None = Field(default=None, gt=0)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    aliases: dict[str, str | dict[str, Any]] = Field(default_factory=dict)
    dialects: Dialects = Field(default_factory=Dialects)

    @property
    def scheme(self) -> str:
        """How clients reach ``genq serve``: ``https`` with a TLS certificate, else ``http``."""
        return "http" if self.tls_cert is None else "https"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    @classmethod
    def load(cls, config: Path | None = None, **overrides: Any) -> Settings:
        """Build settings; ``overrides`` (command-line options) win, ``None`` means unset."""
        if config is not None and not config.is_file():
            raise ConfigError(f"config file not found: {config}")
        given = {k: v for k, v in overrides.items() if v is not None}
        cls._toml_file = config
        try:
            return cls(**given)
        except ValueError as exc:
            raise ConfigError(f"invalid settings: {exc}") from exc
        finally:
            cls._toml_file = None

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.data_dir / 'genq.db'}"

    @property
    def storage_url(self) -> str:
        return self.storage or f"file://{self.data_dir / 'files'}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "api-key"

    def signing_secret(self) -> bytes:
        """The HMAC secret for file links: configured, or made once and kept in the data dir."""
        if self.secret:
            return self.secret.encode()
        path = self.data_dir / "secret"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            write_private(path, secrets.token_hex(32))
        return path.read_text().strip().encode()


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner can read (mode 0600 from the first byte)."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
