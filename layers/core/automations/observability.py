"""Logging and metrics, one place: Powertools' structured Logger and CloudWatch EMF Metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "automations"
NAMESPACE = "Automations"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
