"""What can go wrong with a desired config or a camera's credentials."""

from __future__ import annotations

from guardian.runtime.errors import GuardianError


class CameraConfigError(GuardianError):
    """A problem with the desired camera configuration."""


class CredentialsUnavailable(CameraConfigError):
    """A camera's sealed credentials cannot be opened here (no key, another key, damaged ciphertext).

    The message names the camera and the reason, never the credentials."""

    def __init__(self, camera: str, reason: str) -> None:
        self.camera = camera
        self.reason = reason
        super().__init__(f"camera {camera}: {reason}")
