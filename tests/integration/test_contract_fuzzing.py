"""Schemathesis against the three served OpenAPI documents, with an admin, an institution
and an auditor key: no server error, and every status, content type and body as documented
(tests/support/fuzzing.py; ``make fuzz`` runs the same at a higher example count)."""

from __future__ import annotations

from pathlib import Path

from tests.support.fuzzing import CI_MAX_EXAMPLES, fuzz, fuzz_stack, report


def test_every_service_answers_as_its_document_says(tmp_path: Path) -> None:
    with fuzz_stack(tmp_path) as stack:
        runs = fuzz(stack, CI_MAX_EXAMPLES)
    assert [(run.service, run.caller) for run in runs] == [
        (service, caller)
        for service in ("ledger", "projector", "issuer")
        for caller in ("admin", "institution", "auditor")
    ]
    assert report(runs) == ""
