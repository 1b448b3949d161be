#!/usr/bin/env python3
"""Publish one notification order straight onto the orders topic, as a system outside the
gateway would: confluent-kafka with its Avro serializer against the schema registry's
Confluent-compatible API.

What a direct producer must get right (see README, "Publishing orders directly"):
  * topic  <TOPIC_PREFIX>altinn.notifications.orders, value subject <topic>-value
  * key    the orderId as UTF-8 bytes, partitioned with murmur2 as the Java client does:
           librdkafka's default is CRC32, so set partitioner=murmur2_random
  * idempotent producer, acks=all
  * the value written with the registered schema (use.latest.version, never auto-register)

Usage:
  producer.py --order order.json      one NotificationOrder as JSON (ids as canonical UUIDs,
                                      times as epoch milliseconds); prints the delivery as JSON
Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (the Confluent-compatible base), TOPIC_PREFIX,
and on a secured cluster the platform's own KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SSL_CA_FILE.
"""
import argparse
import json
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def step(what: str) -> None:
    """Progress on stderr, so a caller can tell where a failed run stopped."""
    print(f"producer: {what}", file=sys.stderr, flush=True)


def kafka_security() -> dict:
    """The platform's Kafka security settings in librdkafka's terms (none on a plain stack)."""
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    conf = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        conf.update(
            {
                "sasl.mechanisms": os.environ.get("KAFKA_SASL_MECHANISM", "scram-sha-512").upper(),
                "sasl.username": os.environ["KAFKA_SASL_USERNAME"],
                "sasl.password": os.environ["KAFKA_SASL_PASSWORD"],
            }
        )
    if protocol.endswith("SSL") and os.environ.get("KAFKA_SSL_CA_FILE"):
        conf["ssl.ca.location"] = os.environ["KAFKA_SSL_CA_FILE"]
    return conf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--order", required=True, help="path of a NotificationOrder JSON file, or - for stdin")
    args = parser.parse_args()
    order = json.load(sys.stdin if args.order == "-" else open(args.order, encoding="utf-8"))

    topic = os.environ.get("TOPIC_PREFIX", "") + "altinn.notifications.orders"
    # confluent-kafka's registry client waits for ever by default: bound every call
    registry = SchemaRegistryClient({"url": os.environ["SCHEMA_REGISTRY_URL"], "timeout": 10, "max.retries": 2})
    # The pipeline registers the schema; an outside producer writes with it and never
    # registers its own (a schema of its own would be a new version others must read).
    serialize = AvroSerializer(
        registry,
        # TopicNameStrategy (`<topic>-value`), as the pipeline registers it. Said outright: the
        # client's default (ASSOCIATED) first asks the registry for the topic's associations, an
        # API Apicurio does not have, and that extra request once hung for 30 s in CI.
        conf={"auto.register.schemas": False, "use.latest.version": True, "subject.name.strategy.type": "TOPIC"},
    )
    producer = Producer(
        {
            "bootstrap.servers": os.environ["KAFKA_BROKERS"],
            **kafka_security(),
            "enable.idempotence": True,
            "acks": "all",
            # librdkafka hashes keys with CRC32 by default; the platform (and the Java client)
            # use murmur2, and an order's records must land where the pipeline expects them.
            "partitioner": "murmur2_random",
            # a record not acknowledged by then is reported failed rather than waited on
            "message.timeout.ms": 20000,
        }
    )
    delivered = {}

    def on_delivery(err, msg):
        if err is not None:
            delivered["error"] = str(err)
        else:
            delivered.update(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())

    step("serializing with the registered schema")
    value = serialize(order, SerializationContext(topic, MessageField.VALUE))
    step("producing")
    producer.produce(topic, key=order["orderId"].encode("utf-8"), value=value, on_delivery=on_delivery)
    if producer.flush(30) != 0:
        print(json.dumps({"error": "not delivered within 30 s"}))
        return 1
    step("delivered" if "error" not in delivered else f"not delivered: {delivered['error']}")
    print(json.dumps(delivered))
    return 0 if "error" not in delivered else 1


if __name__ == "__main__":
    sys.exit(main())
