"""Settings of the device service: one TOML file plus ``QLIGHT_*`` environment variables.

Precedence (highest first): explicit overrides (CLI flags) → environment variables
(``QLIGHT_PORT=8001``, nested with ``__``: ``QLIGHT_SUPERVISOR__MAX_G2_0=0.4``,
``QLIGHT_TWIN__SEED=3``) → the TOML file → defaults. Everything is validated at start;
:func:`load_settings` turns any problem into one :class:`~qlight.errors.ConfigurationError`
line that names the field (``supervisor.max_g2_0: Input should be less than 1``).

The supervisor thresholds are engineering choices (*estimates*), documented in
docs/device.md; the health checks they parametrise are in :mod:`qlight.device.supervisor`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from qlight._toml import read_toml
from qlight.device.config import TwinConfig
from qlight.errors import ConfigurationError

__all__ = [
    "DeviceSettings",
    "MappingSettings",
    "SupervisorSettings",
    "load_settings",
]


class SupervisorSettings(BaseModel):
    """Thresholds and periods of the supervisor while EMITTING (simulated seconds).

    Attributes
    ----------
    laser_power_w : float
        Excitation power at the sample while emitting and mapping.
    laser_power_tolerance : float
        Relative deviation of the laser's power reading that triggers a re-set.
    min_rate_fraction : float
        Count rate below this fraction of the rate measured at acquisition is "low".
    low_rate_samples : int
        Consecutive low samples before the device degrades (blinking dips are short).
    max_rate_cps : float
        Total count rate above which the detectors count as saturated (stray light).
    max_g2_0 : float
        Largest acceptable g2(0) (background-uncorrected) of the served emitter.
    g2_check_period_s, g2_duration_s : float
        How often g2(0) is measured while emitting, and for how long.
    drift_check_period_s : float
        How often the drift tracker predicts, moves and (if uncertain) refocuses.
    sample_period_s : float
        One count-rate sample (also the longest uninterruptible step while emitting).
    max_temperature_k : float
        Sample temperature above which the device stops with FAULT (laser off).
    saturation_timeout_s : float
        How long RECOVERING waits (laser off) for a saturation to clear before FAULT.
    max_recoveries : int
        Recoveries within ``recovery_window_s`` before the device gives up with FAULT.
    recovery_window_s : float
        Window of the recovery budget.
    wall_paced : bool
        While EMITTING, let the instrument clock run ahead of wall time by at most one step
        (a sample, a g2 acquisition) even with pace "fast": the boot stays fast, emission
        then runs at about one simulated second per second instead of using a whole core.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    laser_power_w: float = Field(default=1e-3, gt=0.0, allow_inf_nan=False)
    laser_power_tolerance: float = Field(default=0.05, gt=0.0, lt=1.0, allow_inf_nan=False)
    min_rate_fraction: float = Field(default=0.5, gt=0.0, lt=1.0, allow_inf_nan=False)
    low_rate_samples: int = Field(default=3, ge=1, le=100)
    max_rate_cps: float = Field(default=5e6, gt=0.0, allow_inf_nan=False)
    max_g2_0: float = Field(default=0.5, gt=0.0, lt=1.0, allow_inf_nan=False)
    g2_check_period_s: float = Field(default=30.0, gt=0.0, allow_inf_nan=False)
    g2_duration_s: float = Field(default=5.0, gt=0.0, le=60.0, allow_inf_nan=False)
    drift_check_period_s: float = Field(default=5.0, gt=0.0, allow_inf_nan=False)
    sample_period_s: float = Field(default=0.2, gt=0.0, le=5.0, allow_inf_nan=False)
    max_temperature_k: float = Field(default=318.15, gt=0.0, allow_inf_nan=False)
    saturation_timeout_s: float = Field(default=10.0, gt=0.0, allow_inf_nan=False)
    max_recoveries: int = Field(default=5, ge=1)
    recovery_window_s: float = Field(default=600.0, gt=0.0, allow_inf_nan=False)
    wall_paced: bool = False


class MappingSettings(BaseModel):
    """The first-boot discovery region (chip frame, centred on the chip centre).

    Attributes
    ----------
    region_um : float
        Side of the mapped square in µm.
    tile_um : float
        Side of one discovery tile; the registry is written after every tile, so a crash
        loses at most one tile of work.
    step_nm, dwell_s : float
        Pixel and dwell of the discovery scans.
    max_g2_duration_s : float
        Longest HBT acquisition per emitter during qualification.
    chip_size_um : float or None
        Chip side for the fiducial lattice (None: the twin's configured chip size).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    region_um: float = Field(default=20.0, gt=0.0, le=200.0, allow_inf_nan=False)
    tile_um: float = Field(default=10.0, ge=2.0, le=50.0, allow_inf_nan=False)
    step_nm: float = Field(default=100.0, gt=10.0, le=500.0, allow_inf_nan=False)
    dwell_s: float = Field(default=1e-3, gt=0.0, le=0.1, allow_inf_nan=False)
    max_g2_duration_s: float = Field(default=10.0, gt=0.0, le=60.0, allow_inf_nan=False)
    chip_size_um: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)


class DeviceSettings(BaseSettings):
    """Everything the device service and its interfaces are configured with.

    ``twin_seed`` and ``pace`` are shortcuts for ``twin.seed`` and ``twin.pace`` (the
    ``qlight run`` flags); when set they win over the ``[twin]`` table.
    """

    model_config = SettingsConfigDict(
        env_prefix="QLIGHT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Path("./qlight-data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    scpi_port: int = Field(default=5025, ge=0, le=65535)
    api_token: SecretStr | None = None
    backend: Literal["twin"] = "twin"
    serial: str = Field(default="QL-TWIN-0001", min_length=1, max_length=64)
    twin: TwinConfig = Field(default_factory=lambda: TwinConfig(acquisition_chunk_s=0.2))
    twin_seed: int | None = Field(default=None, ge=0)
    pace: Literal["fast", "realtime"] | None = None
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    mapping: MappingSettings = Field(default_factory=MappingSettings)

    @model_validator(mode="after")
    def _apply_shortcuts(self) -> DeviceSettings:
        upd: dict[str, Any] = {}
        if self.twin_seed is not None:
            upd["seed"] = self.twin_seed
        if self.pace is not None:
            upd["pace"] = self.pace
        if upd:
            object.__setattr__(self, "twin", self.twin.model_copy(update=upd))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides → environment → TOML (the file given to :func:`load_settings`)."""
        toml = getattr(_TOML, "data", None) or {}
        return (init_settings, env_settings, InitSettingsSource(settings_cls, toml))

    @property
    def chip_size_m(self) -> float:
        """Chip side used for the fiducial lattice (design knowledge, not twin truth)."""
        if self.mapping.chip_size_um is not None:
            return self.mapping.chip_size_um * 1e-6
        size = self.twin.chip.get("size_x_m")
        return float(size) if size is not None else 200e-6

    @property
    def device_db(self) -> Path:
        """The device's own SQLite file (event log and persistent state)."""
        return self.data_dir / "device.db"

    @property
    def registry_db(self) -> Path:
        """The emitter registry's SQLite file."""
        return self.data_dir / "registry.db"


_TOML = threading.local()
_LOCK = threading.Lock()


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def load_settings(config_file: Path | None = None, **overrides: Any) -> DeviceSettings:
    """Load and validate the settings (see the module docstring for the precedence).

    ``overrides`` whose value is ``None`` are ignored (CLI flags that were not given).

    Raises
    ------
    qlight.errors.ConfigurationError
        Unreadable or invalid TOML, an unknown field, or a bad value (message names it).
    """
    data = read_toml(config_file) if config_file is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    with _LOCK:
        _TOML.data = data
        try:
            return DeviceSettings(**given)
        except ValidationError as exc:
            where = f"config file {config_file}: " if config_file is not None else ""
            raise ConfigurationError(f"invalid settings: {where}{_one_line(exc)}") from None
        finally:
            _TOML.data = None
