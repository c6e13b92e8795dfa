"""Configuration of the upstream emulator (mutable at runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY = "dk-devlocalemulator0"

KNOWN_MODELS = (
    "google/gempix2",
    "google/gemini-2.5-flash-image",
    "google/nano-banana",
    "google/nano-banana-pro",
    "google/nano-banana-2",
    "google/gemini-3.1-flash-image-preview",
)
PRO_MODELS = ("google/gempix2", "google/nano-banana-pro", "google/nano-banana-2")
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
IMAGE_SIZES = ("1k", "2k", "4k")
MAX_REFERENCE_IMAGES = 4
CALLBACK_MODES = ("normal", "none", "duplicate", "before_response")


@dataclass
class EmulatorConfig:
    """Behaviour of the fake upstream. Every field may be changed while the emulator runs."""

    api_key: str = DEFAULT_API_KEY
    # Stage durations in seconds: pending -> submitted -> in_progress -> final.
    pending_seconds: float = 1.0
    submitted_seconds: float = 1.0
    in_progress_seconds: float = 3.0
    # A query within this many seconds after submit answers 404 "task not found".
    not_found_seconds: float = 0.0
    # Outcome rates, drawn once per task at submit time.
    failure_rate: float = 0.0
    text_result_rate: float = 0.0
    # Faults, drawn per request.
    error_500_rate: float = 0.0
    latency_seconds: float = 0.0
    unknown_status_rate: float = 0.0
    drop_submit_response: bool = False
    # Results and callbacks.
    result_as_data_uri: bool = False
    callback_mode: str = "normal"  # "normal" | "none" | "duplicate" | "before_response"
    duplicate_callbacks: int = 2
    price: str = "0.500000"
    callback_hosts: tuple[str, ...] = field(default=("127.0.0.1", "localhost", "::1"))
    seed: int | None = None
    # Base for result image URLs; None means "the Host the submit request was sent to".
    public_base_url: str | None = None
    # Memory stays bounded: only the newest tasks (with their query counts and callback
    # records) and the most recently served rendered images are kept; older ones answer 404.
    max_tasks: int = 5000
    max_images: int = 200

    def __post_init__(self) -> None:
        if self.callback_mode not in CALLBACK_MODES:
            raise ValueError(f"callback_mode must be one of {', '.join(CALLBACK_MODES)}")

    @property
    def total_seconds(self) -> float:
        return (
            max(self.pending_seconds, 0.0)
            + max(self.submitted_seconds, 0.0)
            + max(self.in_progress_seconds, 0.0)
        )
