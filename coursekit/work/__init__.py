"""The learner's work and its records, in the standard library only, so that every layer may use
them: where the course and the work folder are and what their files are called (:mod:`.layout`),
and the progress file the checks write and ``coursekit progress`` reads (:mod:`.progress`)."""
