"""The public transparency report (SPEC §3.12): aggregate figures only, program-wide and per
cohort."""
