"""The corpus: every scenario, one module per area of the API."""

from . import all_docs, attachments, bulk, changes, documents, errors, local_docs, security, server

__all__ = ["SCENARIOS"]

SCENARIOS = [
    scenario
    for module in (server, documents, all_docs, changes, bulk, attachments, local_docs, security, errors)
    for scenario in module.SCENARIOS
]
