"""FinSent's one home for Kafka: client settings and factories, the one rebalance listener, topic
creation, produce-and-wait, reading a topic back, and the scorer's source and sink. The only package
that imports kafka-python; others name its types through `kafka.client` (`Partition`, `Producer`)."""

__all__ = [
    "client",
    "preflight",
    "security",
    "sink",
    "source",
]
