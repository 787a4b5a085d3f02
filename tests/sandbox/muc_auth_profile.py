"""The MUC component the sandbox's timing tests join rooms on."""

from __future__ import annotations

from harness.profile import ComponentProfile, Profile


def muc_auth_profile(service_url: str, **options) -> Profile:
    """rooms.localhost with mod_muc_http_auth asking `service_url`/can-join, rooms open
    at once; `options` are added to the component's."""
    return Profile(
        components={
            "rooms.localhost": ComponentProfile(
                "rooms.localhost",
                modules_enabled=["muc_http_auth"],
                options={
                    "muc_http_auth_url": f"{service_url}/can-join",
                    "muc_room_locking": False,
                    **options,
                },
            )
        }
    )
