"""Shared test support: the real broker and its helpers (`kafka`), Prometheus, Alertmanager and a
webhook receiver (`stack`), the chaos scenarios' processes and data (`chaos`), fakes for unit tests
(`fakes`) and aggregation scenarios (`scenarios`)."""
