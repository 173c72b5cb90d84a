-- A heroshhi database of schema version 2, as written before field encryption (schema version 3):
-- tests/data/schema-v1.sql migrated by version 2's script, plus a second contact (soft-deleted,
-- on legal hold), an outbound message with a provider id, a manual marketing opt-out and one
-- audit entry with its chain head; `sqlite3 file.db .dump` of it, plus the two PRAGMAs a dump
-- leaves out. tests/unit-sqlite.cpp loads it and checks that SqliteStore migrates it to version 3
-- without losing a row.
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
INSERT INTO contacts VALUES('acme','c-2',447946095800,'+447946095800','Grace Hopper','grace@example.org','direct',NULL,'',1764000100000,1764000100000,1764000200000,1,0);
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
INSERT INTO messages VALUES('acme','m-2','c-1','outbound','Yes, viewings on Saturday.','delivered','wamid.out-1',1764000060000,1764000090000);
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
INSERT INTO optout_events VALUES(2,'acme',447946095800,'+447946095800','opt_out','marketing','manual',1764000300000,'','dashboard','u-1','');
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
CREATE TABLE audit_entries (
    tenant          TEXT    NOT NULL,
    sequence        INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    actor_user      TEXT,
    actor_role      TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    target_type     TEXT    NOT NULL,
    target_id       TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    rule            TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    policy_revision TEXT    NOT NULL,
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL,
    PRIMARY KEY (tenant, sequence)
) WITHOUT ROWID;
INSERT INTO audit_entries VALUES('acme',1,1764000400000,'u-1','manager','update','contact','c-2','allowed','manager.team_contacts','req-1','builtin-1',X'0000000000000000000000000000000000000000000000000000000000000000',X'a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5');
CREATE TABLE audit_chains (
    tenant              TEXT    NOT NULL,
    head_sequence       INTEGER NOT NULL,
    head_hash           BLOB    NOT NULL,
    checkpoint_sequence INTEGER NOT NULL,
    checkpoint_hash     BLOB    NOT NULL,
    checkpoint_at_ms    INTEGER NOT NULL,
    purged              INTEGER NOT NULL,
    PRIMARY KEY (tenant)
) WITHOUT ROWID;
INSERT INTO audit_chains VALUES('acme',1,X'a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5',0,X'0000000000000000000000000000000000000000000000000000000000000000',0,0);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('optout_events',2);
INSERT INTO sqlite_sequence VALUES('consent_records',1);
CREATE INDEX contacts_live_by_phone ON contacts (tenant, phone_key, id) WHERE deleted_at_ms IS NULL;
CREATE INDEX messages_by_contact ON messages (tenant, contact_id, created_at_ms);
CREATE INDEX optout_events_by_tenant ON optout_events (tenant, sequence);
CREATE INDEX optout_events_by_phone ON optout_events (tenant, phone_key, sequence);
CREATE UNIQUE INDEX optout_events_by_provider_id ON optout_events (tenant, provider_message_id)
    WHERE provider_message_id <> '';
CREATE INDEX consent_records_by_tenant ON consent_records (tenant, sequence);
CREATE INDEX consent_records_by_phone ON consent_records (tenant, phone_key, purpose, sequence);
CREATE INDEX audit_entries_by_actor ON audit_entries (tenant, actor_user, sequence);
CREATE INDEX audit_entries_by_target ON audit_entries (tenant, target_type, target_id, sequence);
COMMIT;
PRAGMA application_id = 1213353811;
PRAGMA user_version = 2;
