"""The LINE adapter: a durable webhook, inbox workers, conversations, replies that arrive."""
