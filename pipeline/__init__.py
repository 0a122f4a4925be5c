"""Wirestream: a streaming NLP pipeline for news on Kafka."""

__version__ = "0.1.0"
