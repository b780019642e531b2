"""Automations on AWS: customer-communication automations as a serverless engine."""

__version__ = "0.1.0"
