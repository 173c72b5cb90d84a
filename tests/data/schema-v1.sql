-- A heroshhi database of schema version 1, as written by commit 8ce50bb (before the audit log):
-- `sqlite3 file.db .dump` of a store holding one contact, message, opt-out event, consent record,
-- inbound time and webhook key, plus the two PRAGMAs a dump leaves out. tests/unit-sqlite.cpp
-- loads it and checks that SqliteStore migrates it forward without losing a row.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE contacts (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    phone_key       INTEGER NOT NULL,
    phone_e164      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    assignee        TEXT,
    team            TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    deleted_at_ms   INTEGER,
    legal_hold      INTEGER NOT NULL,
    restricted      INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
INSERT INTO contacts VALUES('acme','c-1',14155550123,'+14155550123','Ada Lovelace','ada@example.com','whatsapp','u-sales-1','north',1764000000000,1764000000000,NULL,0,0);
CREATE TABLE messages (
    tenant              TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    contact_id          TEXT    NOT NULL,
    direction           TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    provider_message_id TEXT    NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    PRIMARY KEY (tenant, id),
    FOREIGN KEY (tenant, contact_id) REFERENCES contacts (tenant, id) ON DELETE CASCADE
);
INSERT INTO messages VALUES('acme','m-1','c-1','inbound','Is the flat still available?','received','',1764000000000,1764000000000);
CREATE TABLE optout_events (
    sequence            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant              TEXT    NOT NULL,
    phone_key           INTEGER NOT NULL,
    phone_e164          TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    scope               TEXT    NOT NULL,
    method              TEXT    NOT NULL,
    at_ms               INTEGER NOT NULL,
    trigger_text        TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    actor               TEXT,
    provider_message_id TEXT    NOT NULL
);
INSERT INTO optout_events VALUES(1,'acme',14155550123,'+14155550123','opt_out','all','keyword',1764000000000,'STOP','whatsapp',NULL,'wamid.1');
CREATE TABLE consent_records (
    sequence    INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT    NOT NULL,
    phone_key   INTEGER NOT NULL,
    phone_e164  TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    granted     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    actor       TEXT
);
INSERT INTO consent_records VALUES(1,'acme',14155550123,'+14155550123','marketing',1,1764000000000,'web_form',NULL);
CREATE TABLE inbound_activity (
    tenant          TEXT    NOT NULL,
    phone_key       INTEGER NOT NULL,
    phone_e164      TEXT    NOT NULL,
    last_inbound_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, phone_key)
) WITHOUT ROWID;
INSERT INTO inbound_activity VALUES('acme',14155550123,'+14155550123',1764000000000);
CREATE TABLE dedup_keys (
    tenant      TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    seen_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant, dedup_key)
) WITHOUT ROWID;
INSERT INTO dedup_keys VALUES('acme','wamid.1',1764000000000);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('optout_events',1);
INSERT INTO sqlite_sequence VALUES('consent_records',1);
CREATE INDEX contacts_live_by_phone ON contacts (tenant, phone_key, id) WHERE deleted_at_ms IS NULL;
CREATE INDEX messages_by_contact ON messages (tenant, contact_id, created_at_ms);
CREATE INDEX optout_events_by_tenant ON optout_events (tenant, sequence);
CREATE INDEX optout_events_by_phone ON optout_events (tenant, phone_key, sequence);
CREATE UNIQUE INDEX optout_events_by_provider_id ON optout_events (tenant, provider_message_id)
    WHERE provider_message_id <> '';
CREATE INDEX consent_records_by_tenant ON consent_records (tenant, sequence);
CREATE INDEX consent_records_by_phone ON consent_records (tenant, phone_key, purpose, sequence);
COMMIT;
PRAGMA application_id = 1213353811;
PRAGMA user_version = 1;
