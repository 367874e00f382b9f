//! The hub database's schema: migrations applied in order, never edited once released (a hub
//! in the field may be at any version; `PRAGMA user_version` records how many ran).
//!
//! Times are Unix microseconds (`*_us`): ordering by them is exact whatever offset a caller
//! wrote, and they are shown back in Vietnam time. Days (`day`) are the Vietnam calendar day
//! of issue, `YYYY-MM-DD`.

/// Schema migrations, applied in order.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE fallback_blocks(
    kiosk_id TEXT PRIMARY KEY,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL CHECK(last >= first),
    joined_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX fallback_blocks_by_first ON fallback_blocks(first);
CREATE TABLE sequences(
    area TEXT NOT NULL,
    day TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY(area, day)
);
CREATE TABLE tickets(
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL UNIQUE,
    issued_area TEXT NOT NULL,
    area TEXT NOT NULL,
    day TEXT NOT NULL,
    number INTEGER NOT NULL,
    kiosk_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK(source IN ('hub', 'fallback')),
    state TEXT NOT NULL CHECK(state IN ('waiting', 'called', 'finished', 'no_show')),
    issued_us INTEGER NOT NULL,
    for_counter TEXT,
    counter TEXT,
    calls INTEGER NOT NULL DEFAULT 0,
    first_called_us INTEGER,
    last_called_us INTEGER,
    finished_us INTEGER,
    no_show_us INTEGER,
    UNIQUE(issued_area, day, number)
);
CREATE INDEX tickets_waiting ON tickets(state, day, area, issued_us);
CREATE INDEX tickets_by_number ON tickets(source, number);
CREATE UNIQUE INDEX tickets_one_called_per_counter ON tickets(counter) WHERE state = 'called';
CREATE TABLE calls(
    ticket INTEGER NOT NULL REFERENCES tickets(id),
    attempt INTEGER NOT NULL,
    counter TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    PRIMARY KEY(ticket, attempt)
);
CREATE TABLE ratings(
    ticket INTEGER PRIMARY KEY REFERENCES tickets(id),
    levels INTEGER NOT NULL,
    level INTEGER NOT NULL,
    score INTEGER NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE TABLE outbox(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    delivered_us INTEGER
);
CREATE INDEX outbox_pending ON outbox(id) WHERE delivered_us IS NULL;
"#,
    // 2: what each ticket promised (the report's accuracy), paired hall screens, pairing codes,
    // outbox events the gateway refused for good (set aside with its reason, never resent).
    r#"
ALTER TABLE tickets ADD COLUMN promised TEXT;
ALTER TABLE outbox ADD COLUMN set_aside TEXT;
ALTER TABLE tickets ADD COLUMN rating_code_sha256 TEXT;
CREATE INDEX tickets_finished ON tickets(counter, day, finished_us) WHERE state = 'finished';
CREATE TABLE screens(
    token_sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK(kind IN ('display', 'rating')),
    counter TEXT,
    paired_us INTEGER NOT NULL
);
CREATE TABLE pairing_codes(
    code_sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK(kind IN ('display', 'rating')),
    counter TEXT,
    expires_us INTEGER NOT NULL
);
"#,
];
