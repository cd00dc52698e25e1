"""The learner's passbook: their record as a page, signed in by their passbook link."""
