"""What can go wrong while signing in through a provider, as errors with a status and code.

Each is an outcome we expect (a cancelled consent, a stale tab, Discord having a bad
minute), so each is a clear problem+json — never a 500, and never the provider's own
words beyond its OAuth error code (its descriptions may echo what we sent).
"""

from __future__ import annotations

from townsquare.errors import TownsquareError


class ProviderNotConfigured(TownsquareError):
    """The instance has no client id/secret for this provider (404: the login does not exist
    here; not a 5xx, because nothing is broken)."""

    status = 404
    code = "provider_not_configured"


class SignInStateInvalid(TownsquareError):
    """The callback's ``state`` is missing, expired, used before, or from another browser."""

    status = 400
    code = "oauth_state_invalid"


class UnsafeRedirect(TownsquareError):
    """``next`` is not a path on this site (an open redirect would help phishing)."""

    status = 400
    code = "unsafe_redirect"


class SignInDenied(TownsquareError):
    """The person declined (or the provider refused) the consent."""

    status = 403
    code = "sign_in_denied"


class ProviderRejected(TownsquareError):
    """The provider answered 4xx: an expired or reused code, a revoked grant, bad credentials."""

    status = 400
    code = "provider_rejected"

    def __init__(self, message: str, oauth_error: str | None = None) -> None:
        super().__init__(message)
        self.oauth_error = oauth_error


class ProviderUnavailable(TownsquareError):
    """The provider could not be reached, timed out, or answered 5xx or nonsense."""

    status = 502
    code = "provider_unavailable"
