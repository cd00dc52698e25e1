"""The catalog fold: versioned stacking rules and the version in force at a position."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from domain.catalog import Catalog, ElectiveRule, evolve_catalog, fold_catalog
from domain.units import level_to_halves
from proto import events as ev
from tests.support.domain_examples import (
    CATALOG_RECORDED_AT,
    cnc_master,
    cnc_operator,
    demo_catalog,
    demo_rule,
    qualification_defined,
)


def _recorded(*events: ev.Event, first_position: int = 1) -> Catalog:
    return fold_catalog(
        (event, position, CATALOG_RECORDED_AT)
        for position, event in enumerate(events, start=first_position)
    )


def test_rule_keeps_the_definition_exactly() -> None:
    rule = demo_rule("GUEST-EXPERIENCE")
    assert rule.version == 1
    assert rule.level_halves == level_to_halves("4")
    assert rule.required == ("HOSP-FUND", "HOSP-CUST", "HOSP-CULT")
    assert rule.electives == (ElectiveRule(("HOSP-HOTEL-OPS", "HOSP-FNB", "HOSP-EVENT"), 2),)
    assert rule.min_credits == 9
    assert rule.max_rpl_share is None


def test_rpl_share_is_parsed_from_the_decimal_string_exactly() -> None:
    assert demo_rule("CULINARY-ARTS-CERT").max_rpl_share == Fraction(1, 2)
    thirds = qualification_defined(
        "X-Q", min_credits=1, required=["CNC-FUND"], max_rpl_share="0.3333"
    )
    assert _recorded(thirds).rules["X-Q"][0].max_rpl_share == Fraction(3333, 10000)


def test_min_component_level_is_kept_in_half_steps() -> None:
    defined = qualification_defined(
        "X-Q", min_credits=1, required=["CNC-ADV"], min_component_level="4.5"
    )
    assert _recorded(defined).rules["X-Q"][0].min_component_level_halves == 9


def test_micro_credential_codes_are_known() -> None:
    catalog = demo_catalog()
    assert {"CNC-FUND", "HOSP-FNB", "AI-DL"} <= catalog.micro_credential_codes
    assert "ADV-CNC-MACHINING" not in catalog.micro_credential_codes
    assert catalog.is_qualification("ADV-CNC-MACHINING")


def test_no_rule_is_in_force_before_its_first_version_is_recorded() -> None:
    catalog = _recorded(cnc_operator(), first_position=10)
    assert catalog.rule_in_force("CNC-OPERATOR", 9) is None
    assert catalog.rule_in_force("UNKNOWN", 100) is None


def test_rule_in_force_is_the_latest_version_recorded_at_or_before_the_position() -> None:
    v1 = cnc_operator()
    v2 = qualification_defined("CNC-OPERATOR", version=2, required=["CNC-FUND"], min_credits=2)
    catalog = _recorded(v1, v2, first_position=10)

    def version_at(position: int) -> int | None:
        rule = catalog.rule_in_force("CNC-OPERATOR", position)
        return None if rule is None else rule.version

    assert [version_at(p) for p in (9, 10, 11, 500)] == [None, 1, 2, 2]
    assert catalog.current_rule("CNC-OPERATOR") == catalog.rule_in_force("CNC-OPERATOR", 11)


def test_a_version_out_of_sequence_is_refused() -> None:
    skipped = qualification_defined("CNC-OPERATOR", version=2, required=["CNC-FUND"], min_credits=2)
    with pytest.raises(ValueError, match="out of sequence"):
        _recorded(skipped)


def test_a_rule_that_names_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot name itself"):
        _recorded(qualification_defined("LOOP", required=["LOOP"], min_credits=1))


def test_an_elective_group_asking_for_more_codes_than_it_has_is_refused() -> None:
    group = ev.ElectiveGroup(codes=["CNC-FUND"], min_count=2)
    with pytest.raises(ValueError, match="elective group"):
        _recorded(qualification_defined("X-Q", electives=[group], min_credits=1))


def test_a_naive_recording_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        evolve_catalog(Catalog(), cnc_operator(), 1, dt.datetime(2026, 1, 5, 9, 0))


def test_rules_naming_a_micro_credential_are_its_current_rules() -> None:
    catalog = demo_catalog()
    assert [r.code for r in catalog.rules_naming(["HOSP-FNB"])] == [
        "CULINARY-ARTS-CERT",
        "GUEST-EXPERIENCE",
    ]
    assert [r.code for r in catalog.rules_naming(["CNC-QC", "AI-DL"])] == [
        "ADV-CNC-MACHINING",
        "AI-CERT",
    ]
    assert catalog.rules_naming(["NOT-A-CODE"]) == []


def test_rules_naming_refuses_a_bare_code_string() -> None:
    with pytest.raises(TypeError, match="collection of codes"):
        demo_catalog().rules_naming("CNC-FUND")


def test_rules_naming_a_qualification_are_the_higher_qualifications() -> None:
    catalog = _recorded(cnc_operator(), cnc_master())
    assert [r.code for r in catalog.rules_naming(["CNC-OPERATOR"])] == ["CNC-MASTER"]


def test_rules_naming_reads_only_the_current_version() -> None:
    v2 = qualification_defined("CNC-OPERATOR", version=2, required=["CNC-FUND"], min_credits=2)
    catalog = _recorded(cnc_operator(), v2)
    assert catalog.rules_naming(["CNC-PROG"]) == []


def test_events_that_do_not_define_the_catalog_leave_it_unchanged() -> None:
    catalog = demo_catalog()
    institution = ev.InstitutionRegistered(
        institution_id="NEW-ITI",
        name="A new ITI",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=["CAPITAL-GOODS"],
        max_level="4",
    )
    assert evolve_catalog(catalog, institution, 999, CATALOG_RECORDED_AT) is catalog
