"""Layer health: which layers left the healthy band, drift, correlation traps, failed fits, NaN/Inf, collapsed
rank, derived from a run's analysis tables as each epoch lands, and who is told.

    bands    alpha's healthy band (weightwatcher's 2-6) and the band of a value
    rules    the thresholds, severities and check rules, from a TOML file or the defaults
    events   the pure derivation: the run's tables in, events out
    monitor  events.csv brought up to date after an analysis, new events handed to the alerts
    alerts   the outbox's deliveries: each event POSTed once to every SPECTRASCOPE_ALERT_URL

Torch-free, below training and analysis (which call the monitor) and above the run format; the dashboard, the
report, alerts and `spectrascope check` all read events through it. Modules are imported by name: importing
the package loads nothing."""
