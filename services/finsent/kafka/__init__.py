"""FinSent's one home for Kafka: client settings and factories, the one rebalance listener, topic
creation, produce-and-wait, reading a topic back, the one consumer loop of the consumer groups
(aggregator, webhook delivery, label ingest), and the scorer's source and sink. The only package
that imports kafka-python; others name its types through `kafka.client` (`Partition`, `Producer`)."""

__all__ = [
    "client",
    "consumer_loop",
    "preflight",
    "security",
    "sink",
    "source",
]
