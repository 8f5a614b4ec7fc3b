"""Alert events after the detector: `publisher` (to the alerts topic, acknowledged), `webhook`
(signed POSTs), `dispatcher` (the webhook delivery consumer: retries, dead letters)."""

__all__ = ["dispatcher", "publisher", "webhook"]
