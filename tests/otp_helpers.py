"""A verified second factor for tests that use the admin (staff need one to reach it)."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def verify_second_factor(client, user):
    """Give the client's session what the verify page gives it: a confirmed authenticator
    that has verified this session. The client must be logged in as `user` already."""
    device = TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def verified_admin_client(client, user):
    """`client` logged in as `user` (staff) with a verified second factor."""
    client.force_login(user)
    verify_second_factor(client, user)
    return client


def current_code(device):
    """The code the member's authenticator app shows for `device` right now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device):
    """A code the device does not accept now."""
    return f"{(int(current_code(device)) + 500_000) % 10**device.digits:0{device.digits}d}"
