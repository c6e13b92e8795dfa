"""A standalone fake of the upstream image-generation API for development and tests.

    from emulator import Emulator, EmulatorConfig
    with Emulator(EmulatorConfig(pending_seconds=0)) as emu:
        ...  # talk to emu.base_url

Standard library plus Pillow only; no Django.
"""

from .config import DEFAULT_API_KEY, EmulatorConfig
from .server import Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator", "EmulatorConfig"]
