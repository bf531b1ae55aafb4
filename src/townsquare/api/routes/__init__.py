"""One router per area, mounted under ``/api/v1`` by `townsquare.api.app`."""
