"""A demo catalog from real NSQF-style programmes, loaded by ``credit-ledger dev``.

Event ids are derived from the content's names (UUID v5), so loading twice is a no-op.
"""

from __future__ import annotations

import uuid

from proto import events as ev

DEMO_NAMESPACE = uuid.UUID("6f1c1a52-3a43-4d64-9a7e-7d1f3c0b9e10")

CAPITAL_GOODS = "CAPITAL-GOODS"
HOSPITALITY = "TOURISM-HOSPITALITY"
IT = "IT-ITES"


def _mc(
    code: str, title: str, sector: str, level: str, hours: int, *outcomes: str
) -> ev.MicroCredentialDefined:
    return ev.MicroCredentialDefined(
        code=code,
        version=1,
        title=title,
        sector=sector,
        level=level,
        notional_hours=hours,
        learning_outcomes=list(outcomes),
        validity_years=7,
    )


INSTITUTIONS = [
    ev.InstitutionRegistered(
        institution_id="NSTI-CHENNAI",
        name="National Skill Training Institute, Chennai",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=[CAPITAL_GOODS],
        max_level="5",
    ),
    ev.InstitutionRegistered(
        institution_id="ATI-MUMBAI",
        name="Advanced Training Institute, Mumbai",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=[CAPITAL_GOODS],
        max_level="5",
    ),
    ev.InstitutionRegistered(
        institution_id="IHM-GOA",
        name="Institute of Hotel Management, Goa",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=[HOSPITALITY],
        max_level="5",
    ),
    ev.InstitutionRegistered(
        institution_id="THSC-RPL",
        name="Tourism & Hospitality Skill Council RPL assessment body",
        kind=ev.InstitutionKind.ASSESSMENT_BODY,
        accredited_sectors=[HOSPITALITY],
        max_level="4",
    ),
    ev.InstitutionRegistered(
        institution_id="NIELIT-DELHI",
        name="NIELIT Delhi",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=[IT],
        max_level="6",
    ),
]

MICRO_CREDENTIALS = [
    _mc(
        "CNC-FUND",
        "CNC Fundamentals",
        CAPITAL_GOODS,
        "4",
        60,
        "Explain CNC machine axes and safety",
    ),
    _mc(
        "CNC-PROG",
        "CNC Programming",
        CAPITAL_GOODS,
        "4",
        90,
        "Write G-code and M-code part programs",
    ),
    _mc("CNC-ADV", "Advanced CNC Operations", CAPITAL_GOODS, "4.5", 90, "Run multi-axis setups"),
    _mc("CNC-MAINT", "CNC Maintenance", CAPITAL_GOODS, "4", 60, "Carry out preventive maintenance"),
    _mc(
        "CNC-QC",
        "Quality Control in Machining",
        CAPITAL_GOODS,
        "4",
        60,
        "Inspect parts with gauges and CMM",
    ),
    _mc(
        "HOSP-FUND", "Hospitality Fundamentals", HOSPITALITY, "3", 60, "Describe hotel departments"
    ),
    _mc(
        "HOSP-CUST",
        "Customer Service Excellence",
        HOSPITALITY,
        "3",
        60,
        "Handle guest requests and complaints",
    ),
    _mc("HOSP-CULT", "Cultural Sensitivity", HOSPITALITY, "3", 30, "Serve guests across cultures"),
    _mc(
        "HOSP-HOTEL-OPS",
        "Hotel Operations",
        HOSPITALITY,
        "4",
        90,
        "Run front office and housekeeping",
    ),
    _mc(
        "HOSP-FNB",
        "Food and Beverage Service",
        HOSPITALITY,
        "4",
        60,
        "Serve food and beverages to standard",
    ),
    _mc("HOSP-EVENT", "Event Planning", HOSPITALITY, "4", 60, "Plan and run banquets and events"),
    _mc(
        "CUL-HYGIENE",
        "Food Safety and Hygiene",
        HOSPITALITY,
        "3",
        30,
        "Apply FSSAI hygiene practice",
    ),
    _mc(
        "CUL-BASIC",
        "Basic Culinary Techniques",
        HOSPITALITY,
        "3",
        90,
        "Use knife skills and cooking methods",
    ),
    _mc(
        "CUL-KITCHEN",
        "Kitchen Operations",
        HOSPITALITY,
        "3",
        60,
        "Work a commercial kitchen station",
    ),
    _mc(
        "CUL-INDIAN", "Indian Regional Cuisine", HOSPITALITY, "4", 90, "Cook regional Indian dishes"
    ),
    _mc("CUL-BAKERY", "Bakery and Confectionery", HOSPITALITY, "4", 60, "Bake breads and pastries"),
    _mc(
        "AI-INTRO",
        "Introduction to Artificial Intelligence",
        IT,
        "5",
        60,
        "Explain AI concepts and ethics",
    ),
    _mc(
        "AI-PYML",
        "Python for Machine Learning",
        IT,
        "5",
        90,
        "Train and evaluate ML models in Python",
    ),
    _mc(
        "AI-DL",
        "Deep Learning with Neural Networks",
        IT,
        "6",
        120,
        "Build and train neural networks",
    ),
]

QUALIFICATIONS = [
    ev.QualificationDefined(
        code="ADV-CNC-MACHINING",
        version=1,
        title="Advanced CNC Machining",
        description="CNC fundamentals, programming, advanced operations, maintenance and quality control.",
        sector=CAPITAL_GOODS,
        level="4.5",
        required=["CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC"],
        min_credits=12,
    ),
    ev.QualificationDefined(
        code="GUEST-EXPERIENCE",
        version=1,
        title="Guest Experience Excellence",
        description="Hospitality fundamentals, customer service and cultural sensitivity, plus two of hotel operations, food and beverage service and event planning.",
        sector=HOSPITALITY,
        level="4",
        required=["HOSP-FUND", "HOSP-CUST", "HOSP-CULT"],
        electives=[
            ev.ElectiveGroup(codes=["HOSP-HOTEL-OPS", "HOSP-FNB", "HOSP-EVENT"], min_count=2)
        ],
        min_credits=9,
    ),
    ev.QualificationDefined(
        code="CULINARY-ARTS-CERT",
        version=1,
        title="Certificate in Culinary Arts",
        description="Reachable through recognition of prior learning; RPL credits count for at most half of the minimum.",
        sector=HOSPITALITY,
        level="4",
        required=["CUL-HYGIENE", "CUL-BASIC", "CUL-KITCHEN", "CUL-INDIAN"],
        electives=[ev.ElectiveGroup(codes=["CUL-BAKERY", "HOSP-FNB"], min_count=1)],
        min_credits=11,
        max_rpl_share="0.5",
    ),
    ev.QualificationDefined(
        code="AI-CERT",
        version=1,
        title="AI Certification",
        description="Introduction to AI, Python for machine learning, deep learning with neural networks.",
        sector=IT,
        level="5.5",
        required=["AI-INTRO", "AI-PYML", "AI-DL"],
        min_credits=9,
    ),
]


def demo_events() -> list[tuple[str, ev.Event]]:
    """(event id, event) in the order they must be recorded."""
    ordered: list[ev.Event] = [*INSTITUTIONS, *MICRO_CREDENTIALS, *QUALIFICATIONS]
    return [(str(uuid.uuid5(DEMO_NAMESPACE, repr(event))), event) for event in ordered]
