"""A fake LINE Messaging API (api.line.me + api-data.line.me) and LINE's webhook bodies.

The real, unmodified line-bot-sdk v3 talks to it on 127.0.0.1::

    with FakeLine() as fake:
        config = Configuration(host=fake.url, access_token=fake.channel.access_token)
        ...  # AsyncMessagingApi(AsyncApiClient(config)).reply_message(...)
        event = webhooks.text_message(
            webhooks.user_source(user), "hi", reply_token=fake.reply_token(user)
        )
        request = fake.signed_webhook([event])  # POST request.body with request.headers

``webhooks`` builds every documented event type and signs bodies. Never used in production
paths.
"""

from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.calls import ApiCall
from townsquare.fakes.line.server import FakeLine
from townsquare.fakes.line.state import ChannelRef, Delivery, LineChannel
from townsquare.fakes.line.webhooks import SignedWebhook

__all__ = [
    "ApiCall",
    "ChannelRef",
    "Delivery",
    "FakeLine",
    "LineChannel",
    "SignedWebhook",
    "ids",
    "webhooks",
]
