"""Local protocol fakes of outside services (Discord, …), served on 127.0.0.1.

Why: tests and ``townsquare bench`` drive the real, unmodified client libraries against
servers that speak the services' wire formats, so no test needs the internet and faults
(rate limits, dropped connections) can be provoked on purpose. Never used in production
paths.
"""
