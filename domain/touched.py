"""Which rules an event can have changed the decision of: the only ones the live fold
evaluates again (docs/architecture.md §5, "Progress rows").

A decision depends on the rule version in force, on the passes and awards the rule names
(an award's component passes included) and on the evaluation day. Time alone only ends
shelf lives, so it never makes a rule newly satisfied. So after an event, a relevant rule
(``domain.replay.relevant_codes``) is judged again when

- it names a code the event touched (``touched_codes``), or its own qualification was
  touched (an award of it revoked, a block on it set or lifted: a new award may be due);
- or its version in force was recorded after the learner's previous event, so the
  learner was never judged by it.

Every other stored decision stays as of the last event that touched it; its
``bank_position`` says which, and a replay as of that position gives the same decision.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.catalog import Catalog, Rule
from domain.holdings import CreditBank


def touched_codes(before: CreditBank, after: CreditBank) -> set[str]:
    """What changed from ``before`` to ``after`` (one event's fold), as codes: of each pass
    added or changed, its code and the qualifications of the held awards it is a component
    of; of each award added or changed, and each block set or lifted, its qualification.

    The fold replaces exactly what changed (unchanged passes and awards, and unchanged
    mappings, are the same objects), so identity tells what changed."""
    codes: set[str] = set()
    if after.passes is not before.passes:
        changed = [p for key, p in after.passes.items() if before.passes.get(key) is not p]
        keys = {p.key for p in changed}
        codes.update(p.code for p in changed)
        codes.update(
            a.qualification_code for a in after.awards.values() if not keys.isdisjoint(a.components)
        )
    if after.awards is not before.awards:
        codes.update(
            a.qualification_code
            for award_id, a in after.awards.items()
            if before.awards.get(award_id) is not a
        )
    if after.award_blocks is not before.award_blocks:
        codes.update(before.award_blocks.keys() - after.award_blocks.keys())
        codes.update(
            code
            for code, block in after.award_blocks.items()
            if before.award_blocks.get(code) is not block
        )
    return codes


def touched_rules(
    catalog: Catalog,
    relevant: Iterable[str],
    before: CreditBank,
    after: CreditBank,
    position: int,
) -> list[Rule]:
    """The rules in force at ``position`` among the ``relevant`` qualifications that the
    event folded from ``before`` into ``after`` may have changed the decision of, by code."""
    touched = touched_codes(before, after)
    rules: list[Rule] = []
    for code in sorted(relevant):
        rule = catalog.rule_in_force(code, position)
        if rule is None:
            continue
        if (
            code in touched
            or rule.recorded_position > before.position
            or not touched.isdisjoint(rule.named_codes)
        ):
            rules.append(rule)
    return rules
