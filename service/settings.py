"""The one place that reads the environment: every setting of labelgate, with its default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings read from ``LABELGATE_*`` environment variables (or a ``.env`` file in the working dir).

    ``workspace`` (``./labelgate-workspace``): folder holding the SQLite database, the git + DVC
    repository, the DVC local remote and the signing key.
    ``database_url`` (SQLite file in the workspace): any SQLAlchemy URL; PostgreSQL for teams.
    ``dvc_remote`` (a ``dvc-remote`` folder in the workspace): any DVC remote URL.
    ``signing_key_path`` (``<workspace>/keys/signing_key.pem``): Ed25519 private key, PEM.
    ``max_body_bytes`` (10 MiB): larger request bodies get 413.
    ``checkpoint_every_events`` (100) / ``checkpoint_every_seconds`` (300): how often the service signs
    the audit chain's head and commits it to the workspace's git (also on every release).
    """

    model_config = SettingsConfigDict(env_prefix="LABELGATE_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    workspace: Path = Path("labelgate-workspace")
    database_url: str = ""
    dvc_remote: str = ""
    signing_key_path: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    page_size_max: int = Field(default=500, gt=0)
    api_url: str = "http://127.0.0.1:8000"
    # Signed audit checkpoints committed to the workspace's git: every N events or S seconds.
    checkpoint_every_events: int = Field(default=100, ge=1)
    checkpoint_every_seconds: float = Field(default=300.0, gt=0)
    # Only the test suite reads this: the PostgreSQL server the database tests run against.
    test_pg_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ci: bool = Field(default=False, validation_alias="CI")
    # Label Studio webhooks (service.actions.connectors): the shared secret Label Studio sends in the
    # X-Labelgate-Secret header (empty: webhooks refused), and the labelgate user who records them (an ML
    # engineer of the project).
    labelstudio_webhook_secret: str = Field(default="", repr=False)
    labelstudio_webhook_user: str = ""

    @model_validator(mode="after")
    def _fill_workspace_defaults(self) -> Settings:
        self.workspace = self.workspace.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.workspace / 'labelgate.db'}"
        if not self.dvc_remote:
            self.dvc_remote = str(self.workspace / "dvc-remote")
        if self.signing_key_path is None:
            self.signing_key_path = self.workspace / "keys" / "signing_key.pem"
        return self

    @property
    def repo_dir(self) -> Path:
        """The git + DVC repository holding dataset content and schema files."""
        return self.workspace / "repo"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` and pass them explicitly."""
    return Settings()
