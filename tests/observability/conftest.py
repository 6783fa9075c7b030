"""Keeps the developer's shell out of these tests, as tests/conftest.py does for the settings:
OpenTelemetry's SDK also reads variables of its own (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ...), in this process and in the servers it starts."""

from __future__ import annotations

import os

for _variable in [name for name in os.environ if name.upper().startswith("OTEL_")]:
    os.environ.pop(_variable)
