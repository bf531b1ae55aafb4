"""Sign-in through providers: Discord OAuth2 and LINE Login, their clients and flows.

* `state`: the pending sign-in (state, PKCE, nonce, next) in a signed, short-lived cookie;
* `discord`, `line`: the providers' endpoints, base URLs from `AuthSettings`;
* `flows`: code -> user with roles; the periodic re-check of Discord roles;
* `grants`: where Discord grants wait for that re-check.

The routes live in ``townsquare.api.routes.auth``.
"""
