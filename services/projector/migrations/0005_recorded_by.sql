-- An institution key reads only what its institution recorded (docs/architecture.md §6):
-- its learners, and each one's events it recorded, by the institution the event names.
CREATE INDEX events_recorded_by ON projector.events ((data->>'institution_id'), learner_id)
    WHERE learner_id IS NOT NULL;
