// heroshhi — SqliteStore: every storage port over one SQLite file.
//
// Rules this file keeps (and tests/unit-sqlite.cpp checks):
// - every SQL text is a constant; values only ever reach SQLite through sqlite3_bind_*;
// - nothing is written to a file before it is known to be a heroshhi database of a schema this
//   build understands (so a wrong path never damages someone else's file);
// - every write of more than one row runs in one transaction;
// - writes that arrive while a commit is in flight are committed together (group commit): each in
//   its own savepoint (a write of one statement needs none: SQLite backs a failing statement out
//   by itself), so one failing write rolls back alone, and each caller returns only once the
//   transaction holding its write is durable (or has failed);
// - no exception leaves a port method;
// - in an encrypted store no sensitive value (phone number, name, email, message body) reaches
//   SQLite except as a FieldCipher ciphertext or a blind-index tag.
#include <heroshhi/storage/sqlite_store.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/field_cipher.hpp>
#include <heroshhi/storage/errors.hpp>

#include "detail/sqlite_retention.hpp"
#include "detail/guarded.hpp"

namespace heroshhi::storage {
namespace {

using detail::exception_error;
using detail::guarded;
using detail::hex;

/// "HROS": marks a file as a heroshhi database (PRAGMA application_id).
constexpr std::int32_t heroshhi_application_id = 0x48524F53;
// Migration 1 writes the id as a decimal literal (a PRAGMA value cannot be bound).
static_assert(heroshhi_application_id == 1213353811);

/// Rows read per lock in a scan: the visitor runs without the store's lock held, so it may call
/// back into the store, and other callers are not starved by a long scan.
constexpr std::int64_t scan_batch = 256;

/// One forward step of the schema. The script is constant DDL and sets user_version (and, in
/// the first step, application_id) itself; it runs inside one IMMEDIATE transaction.
struct Migration {
    int version;
    const char* script;
};

constexpr std::array<Migration, 5> migrations{{
    {1, R"sql(
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
CREATE INDEX contacts_live_by_phone ON contacts (tenant, phone_key, id) WHERE deleted_at_ms IS NULL;

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
CREATE INDEX messages_by_contact ON messages (tenant, contact_id, created_at_ms);

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
CREATE INDEX optout_events_by_tenant ON optout_events (tenant, sequence);
CREATE INDEX optout_events_by_phone ON optout_events (tenant, phone_key, sequence);
CREATE UNIQUE INDEX optout_events_by_provider_id ON optout_events (tenant, provider_message_id)
    WHERE provider_message_id <> '';

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
CREATE INDEX consent_records_by_tenant ON consent_records (tenant, sequence);
CREATE INDEX consent_records_by_phone ON consent_records (tenant, phone_key, purpose, sequence);

CREATE TABLE inbound_activity (
    tenant          TEXT    NOT NULL,
    phone_key       INTEGER NOT NULL,
    phone_e164      TEXT    NOT NULL,
    last_inbound_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, phone_key)
) WITHOUT ROWID;

CREATE TABLE dedup_keys (
    tenant      TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    seen_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant, dedup_key)
) WITHOUT ROWID;

PRAGMA application_id = 1213353811;
PRAGMA user_version = 1;
)sql"},
    // 2: the audit trail. Entries are keyed by (tenant, sequence); the chain's head and purge
    // checkpoint live in one row per tenant, written in the same transaction as the entries.
    {2, R"sql(
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
CREATE INDEX audit_entries_by_actor ON audit_entries (tenant, actor_user, sequence);
CREATE INDEX audit_entries_by_target ON audit_entries (tenant, target_type, target_id, sequence);

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

PRAGMA user_version = 2;
)sql"},
    // 3: field encryption and delivery statuses by provider id.
    //    store_settings holds facts about the file itself (not about a tenant): whether its
    //    sensitive columns are encrypted, and check values that tell at open whether the keys
    //    given are the ones the file was written with. A file that had rows before this step was
    //    written in plaintext; an empty one takes the mode of whoever opens it first.
    //    In an encrypted file the columns keep their names and SQLite stores what is bound:
    //    phone_key holds the phone number's 16-byte blind-index tag (a BLOB) instead of the number,
    //    and phone_e164, name, email and body hold FieldCipher ciphertexts (BLOBs).
    {3, R"sql(
CREATE TABLE store_settings (
    name    TEXT NOT NULL,
    value   BLOB NOT NULL,
    PRIMARY KEY (name)
) WITHOUT ROWID;
INSERT INTO store_settings (name, value)
    SELECT 'field_encryption', 'off'
    WHERE EXISTS (SELECT 1 FROM contacts) OR EXISTS (SELECT 1 FROM optout_events)
       OR EXISTS (SELECT 1 FROM consent_records) OR EXISTS (SELECT 1 FROM inbound_activity);

CREATE INDEX messages_by_provider_id ON messages (tenant, provider_message_id)
    WHERE provider_message_id <> '';

PRAGMA user_version = 3;
)sql"},
    // 4: retention (issue 6). Accounts with their legal hold and closure, the analytics aggregates
    // deleted rows are folded into, and the sweep journal (the one table not scoped by tenant: the
    // sweep is the one operation that walks every tenant). Two partial indexes serve the sweep:
    // soft-deleted contacts by id, and numbers of leads under legal hold.
    {4, R"sql(
CREATE TABLE accounts (
    tenant          TEXT    NOT NULL,
    opened_at_ms    INTEGER NOT NULL,
    closed_at_ms    INTEGER,
    legal_hold      INTEGER NOT NULL,
    PRIMARY KEY (tenant)
) WITHOUT ROWID;

CREATE TABLE analytics_daily (
    tenant      TEXT    NOT NULL,
    day         INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (tenant, day, event_type, source)
) WITHOUT ROWID;

CREATE TABLE retention_sweeps (
    sweeper     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    PRIMARY KEY (sweeper)
) WITHOUT ROWID;

CREATE INDEX contacts_soft_deleted ON contacts (tenant, id) WHERE deleted_at_ms IS NOT NULL;
CREATE INDEX contacts_held_by_phone ON contacts (tenant, phone_key) WHERE legal_hold <> 0;

PRAGMA user_version = 4;
)sql"},
    // ---- privacy (data-subject rights) ----
    // 5: erasure keeps an opt-out event as the keyed hash of its number (erased_tag; phone_key 0 and
    //    phone_e164 empty), the analytics objection is a contact flag, and the request register.
    {5, R"sql(
ALTER TABLE optout_events ADD COLUMN erased_tag BLOB;
CREATE INDEX optout_events_erased ON optout_events (tenant, sequence) WHERE erased_tag IS NOT NULL;

ALTER TABLE contacts ADD COLUMN analytics_objection INTEGER NOT NULL DEFAULT 0;

CREATE TABLE subject_requests (
    tenant             TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    received_at_ms     INTEGER NOT NULL,
    acknowledge_by_ms  INTEGER NOT NULL,
    due_by_ms          INTEGER NOT NULL,
    extended           INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    handled_by         TEXT,
    acknowledged_at_ms INTEGER,
    closed_at_ms       INTEGER,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

PRAGMA user_version = 5;
)sql"},
}};
static_assert(migrations.back().version == SqliteStore::schema_version,
              "the last migration must leave the schema at SqliteStore::schema_version");

/// The statements the ports run, prepared once per connection on first use.
enum class Sql : std::size_t {
    begin_immediate,
    commit,
    rollback,
    savepoint_write,
    release_write,
    rollback_to_write,
    savepoint_tx,
    release_tx,
    rollback_to_tx,
    contact_upsert,
    contact_get,
    contact_find_live_by_phone,
    contact_list,
    contact_list_held,
    contact_exists,
    contact_soft_delete,
    contact_hard_delete,
    message_insert,
    message_update_status,
    message_record_sent,
    message_find_by_provider_id,
    message_advance_status,
    message_list_for_contact,
    optout_insert,
    optout_history,
    optout_scan,
    consent_insert,
    consent_latest,
    consent_scan,
    activity_upsert,
    activity_get,
    activity_scan,
    dedup_insert,
    settings_get,
    settings_insert,
    optout_seal_phone,
    consent_seal_phone,
    sealed_scan_settings,
    sealed_scan_contacts,
    sealed_scan_messages,
    sealed_scan_optouts,
    sealed_scan_consents,
    sealed_scan_activity,
    sealed_replace_key_check,
    sealed_replace_contact_phone,
    sealed_replace_contact_name,
    sealed_replace_contact_email,
    sealed_replace_message_body,
    sealed_replace_optout_phone,
    sealed_replace_consent_phone,
    sealed_replace_activity_phone,
    audit_chain_get,
    audit_chain_set_head,
    audit_chain_set_checkpoint,
    audit_insert,
    audit_read,
    audit_query,
    audit_query_by_actor,
    audit_query_by_target,
    audit_entry_get,
    audit_delete_through,
    // ---- privacy (data-subject rights, schema v5) ----
    message_scan_for_contact,
    optout_erase_number,
    optout_scan_erased,
    consent_records_for_phone,
    consent_erase_number,
    activity_forget,
    request_upsert,
    request_get,
    request_list,
    // ---- several processes on one file ----
    optout_scan_since,
    count_
};

const char* sql_text(Sql q) noexcept {
    switch (q) {
        case Sql::begin_immediate: return "BEGIN IMMEDIATE";
        case Sql::commit: return "COMMIT";
        case Sql::rollback: return "ROLLBACK";
        case Sql::savepoint_write: return "SAVEPOINT heroshhi_write";
        case Sql::release_write: return "RELEASE heroshhi_write";
        case Sql::rollback_to_write: return "ROLLBACK TO heroshhi_write";
        case Sql::savepoint_tx: return "SAVEPOINT heroshhi_tx";
        case Sql::release_tx: return "RELEASE heroshhi_tx";
        case Sql::rollback_to_tx: return "ROLLBACK TO heroshhi_tx";
        case Sql::contact_upsert:
            return "INSERT INTO contacts (tenant, id, phone_key, phone_e164, name, email, source, assignee, team,"
                   " created_at_ms, updated_at_ms, deleted_at_ms, legal_hold, restricted, analytics_objection)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                   " ON CONFLICT (tenant, id) DO UPDATE SET phone_key = excluded.phone_key,"
                   " phone_e164 = excluded.phone_e164, name = excluded.name, email = excluded.email,"
                   " source = excluded.source, assignee = excluded.assignee, team = excluded.team,"
                   " created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,"
                   " deleted_at_ms = excluded.deleted_at_ms, legal_hold = excluded.legal_hold,"
                   " restricted = excluded.restricted, analytics_objection = excluded.analytics_objection";
        case Sql::contact_get:
            return "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms,"
                   " deleted_at_ms, legal_hold, restricted, phone_e164, analytics_objection FROM contacts WHERE tenant = ?1 AND id = ?2";
        case Sql::contact_find_live_by_phone:
            return "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms,"
                   " deleted_at_ms, legal_hold, restricted, phone_e164, analytics_objection FROM contacts"
                   " WHERE tenant = ?1 AND phone_key = ?2 AND deleted_at_ms IS NULL ORDER BY id LIMIT 1";
        case Sql::contact_list:
            return "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms,"
                   " deleted_at_ms, legal_hold, restricted, phone_e164, analytics_objection FROM contacts WHERE tenant = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
        case Sql::contact_list_held:  // contacts_held_by_phone holds exactly these rows
            return "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms,"
                   " deleted_at_ms, legal_hold, restricted, phone_e164, analytics_objection FROM contacts"
                   " INDEXED BY contacts_held_by_phone WHERE tenant = ?1 AND legal_hold <> 0 AND id > ?2"
                   " ORDER BY id LIMIT ?3";
        case Sql::contact_exists: return "SELECT 1 FROM contacts WHERE tenant = ?1 AND id = ?2";
        case Sql::contact_soft_delete:
            return "UPDATE contacts SET deleted_at_ms = ?3 WHERE tenant = ?1 AND id = ?2 AND deleted_at_ms IS NULL";
        case Sql::contact_hard_delete: return "DELETE FROM contacts WHERE tenant = ?1 AND id = ?2";
        case Sql::message_insert:
            return "INSERT INTO messages (tenant, id, contact_id, direction, body, status, provider_message_id,"
                   " created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                   " ON CONFLICT (tenant, id) DO NOTHING";
        case Sql::message_update_status:
            return "UPDATE messages SET status = ?3, updated_at_ms = ?4 WHERE tenant = ?1 AND id = ?2";
        case Sql::message_record_sent:
            // One statement: keep the first provider id; move queued (or received) to sent only.
            return "UPDATE messages SET provider_message_id = CASE WHEN provider_message_id = '' THEN ?3"
                   " ELSE provider_message_id END,"
                   " status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,"
                   " updated_at_ms = CASE WHEN status = 'queued' THEN ?4 ELSE updated_at_ms END"
                   " WHERE tenant = ?1 AND id = ?2";
        case Sql::message_find_by_provider_id:
            return "SELECT id, status FROM messages WHERE tenant = ?1 AND provider_message_id = ?2"
                   " AND provider_message_id <> '' ORDER BY rowid LIMIT 1";
        case Sql::message_advance_status:
            return "UPDATE messages SET status = ?4, updated_at_ms = ?5 WHERE tenant = ?1 AND id = ?2 AND status = ?3";
        case Sql::message_list_for_contact:
            return "SELECT id, direction, body, status, provider_message_id, created_at_ms, updated_at_ms"
                   " FROM messages WHERE tenant = ?1 AND contact_id = ?2 ORDER BY created_at_ms, rowid LIMIT ?3";
        case Sql::optout_insert:
            return "INSERT INTO optout_events (tenant, phone_key, phone_e164, kind, scope, method, at_ms,"
                   " trigger_text, channel, actor, provider_message_id)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING";
        case Sql::optout_history:
            return "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor,"
                   " provider_message_id, phone_e164 FROM optout_events WHERE tenant = ?1 AND phone_key = ?2"
                   " AND erased_tag IS NULL ORDER BY sequence";
        case Sql::optout_scan:
            return "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor,"
                   " provider_message_id, phone_e164 FROM optout_events WHERE tenant = ?1 AND sequence > ?2"
                   " AND erased_tag IS NULL ORDER BY sequence LIMIT ?3";
        case Sql::consent_insert:
            return "INSERT INTO consent_records (tenant, phone_key, phone_e164, purpose, granted, at_ms, source, actor)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        case Sql::consent_latest:
            return "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
                   " WHERE tenant = ?1 AND phone_key = ?2 AND purpose = ?3 ORDER BY sequence DESC LIMIT 1";
        case Sql::consent_scan:
            return "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
                   " WHERE tenant = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3";
        case Sql::activity_upsert:
            return "INSERT INTO inbound_activity (tenant, phone_key, phone_e164, last_inbound_ms)"
                   " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant, phone_key)"
                   " DO UPDATE SET last_inbound_ms = max(last_inbound_ms, excluded.last_inbound_ms)";
        case Sql::activity_get:
            return "SELECT last_inbound_ms FROM inbound_activity WHERE tenant = ?1 AND phone_key = ?2";
        case Sql::activity_scan:
            return "SELECT phone_key, last_inbound_ms, phone_e164 FROM inbound_activity WHERE tenant = ?1"
                   " AND phone_key > ?2 ORDER BY phone_key LIMIT ?3";
        case Sql::dedup_insert:
            return "INSERT INTO dedup_keys (tenant, dedup_key, seen_at_ms) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (tenant, dedup_key) DO NOTHING";
        case Sql::settings_get: return "SELECT value FROM store_settings WHERE name = ?1";
        case Sql::settings_insert:
            return "INSERT INTO store_settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING";
        case Sql::optout_seal_phone: return "UPDATE optout_events SET phone_e164 = ?2 WHERE sequence = ?1";
        case Sql::consent_seal_phone: return "UPDATE consent_records SET phone_e164 = ?2 WHERE sequence = ?1";
        // The re-encryption source: every encrypted column, table by table in a stable order.
        case Sql::sealed_scan_settings: return "SELECT value FROM store_settings WHERE name = 'key_check'";
        case Sql::sealed_scan_contacts:
            return "SELECT rowid, tenant, id, phone_e164, name, email FROM contacts WHERE rowid >= ?1"
                   " ORDER BY rowid LIMIT ?2";
        case Sql::sealed_scan_messages:
            return "SELECT rowid, tenant, id, body FROM messages WHERE rowid >= ?1 ORDER BY rowid LIMIT ?2";
        case Sql::sealed_scan_optouts:
            return "SELECT sequence, tenant, sequence, phone_e164 FROM optout_events WHERE sequence >= ?1"
                   " AND erased_tag IS NULL ORDER BY sequence LIMIT ?2";
        case Sql::sealed_scan_consents:
            return "SELECT sequence, tenant, sequence, phone_e164 FROM consent_records WHERE sequence >= ?1"
                   " ORDER BY sequence LIMIT ?2";
        case Sql::sealed_scan_activity:
            return "SELECT tenant, phone_key, phone_e164 FROM inbound_activity WHERE (tenant, phone_key) >= (?1, ?2)"
                   " ORDER BY tenant, phone_key LIMIT ?3";
        case Sql::sealed_replace_key_check:
            return "UPDATE store_settings SET value = ?2 WHERE name = 'key_check' AND value = ?1";
        case Sql::sealed_replace_contact_phone:
            return "UPDATE contacts SET phone_e164 = ?4 WHERE tenant = ?1 AND id = ?2 AND phone_e164 = ?3";
        case Sql::sealed_replace_contact_name:
            return "UPDATE contacts SET name = ?4 WHERE tenant = ?1 AND id = ?2 AND name = ?3";
        case Sql::sealed_replace_contact_email:
            return "UPDATE contacts SET email = ?4 WHERE tenant = ?1 AND id = ?2 AND email = ?3";
        case Sql::sealed_replace_message_body:
            return "UPDATE messages SET body = ?4 WHERE tenant = ?1 AND id = ?2 AND body = ?3";
        case Sql::sealed_replace_optout_phone:
            return "UPDATE optout_events SET phone_e164 = ?4 WHERE tenant = ?1 AND sequence = ?2 AND phone_e164 = ?3";
        case Sql::sealed_replace_consent_phone:
            return "UPDATE consent_records SET phone_e164 = ?4 WHERE tenant = ?1 AND sequence = ?2 AND phone_e164 = ?3";
        case Sql::sealed_replace_activity_phone:
            return "UPDATE inbound_activity SET phone_e164 = ?4 WHERE tenant = ?1 AND phone_key = ?2"
                   " AND phone_e164 = ?3";
        case Sql::audit_chain_get:
            return "SELECT head_sequence, head_hash, checkpoint_sequence, checkpoint_hash, checkpoint_at_ms, purged"
                   " FROM audit_chains WHERE tenant = ?1";
        case Sql::audit_chain_set_head:
            return "INSERT INTO audit_chains (tenant, head_sequence, head_hash, checkpoint_sequence, checkpoint_hash,"
                   " checkpoint_at_ms, purged) VALUES (?1, ?2, ?3, 0, zeroblob(32), 0, 0)"
                   " ON CONFLICT (tenant) DO UPDATE SET head_sequence = excluded.head_sequence,"
                   " head_hash = excluded.head_hash";
        case Sql::audit_chain_set_checkpoint:
            return "UPDATE audit_chains SET checkpoint_sequence = ?2, checkpoint_hash = ?3, checkpoint_at_ms = ?4,"
                   " purged = purged + ?5 WHERE tenant = ?1";
        case Sql::audit_insert:
            return "INSERT INTO audit_entries (tenant, sequence, at_ms, actor_user, actor_role, action, target_type,"
                   " target_id, outcome, rule, request_id, policy_revision, prev_hash, hash)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
        case Sql::audit_read:
            return "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule,"
                   " request_id, policy_revision, prev_hash, hash FROM audit_entries"
                   " WHERE tenant = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?9";
        case Sql::audit_query:
            return "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule,"
                   " request_id, policy_revision, prev_hash, hash FROM audit_entries"
                   " WHERE tenant = ?1 AND sequence > ?2 AND (?3 IS NULL OR at_ms >= ?3) AND (?4 IS NULL OR at_ms < ?4)"
                   " AND (?5 IS NULL OR actor_user = ?5) AND (?6 IS NULL OR action = ?6)"
                   " AND (?7 IS NULL OR target_type = ?7) AND (?8 IS NULL OR target_id = ?8)"
                   " ORDER BY sequence LIMIT ?9";
        case Sql::audit_query_by_actor:
            return "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule,"
                   " request_id, policy_revision, prev_hash, hash FROM audit_entries"
                   " WHERE tenant = ?1 AND actor_user = ?5 AND sequence > ?2"
                   " AND (?3 IS NULL OR at_ms >= ?3) AND (?4 IS NULL OR at_ms < ?4) AND (?6 IS NULL OR action = ?6)"
                   " AND (?7 IS NULL OR target_type = ?7) AND (?8 IS NULL OR target_id = ?8)"
                   " ORDER BY sequence LIMIT ?9";
        case Sql::audit_query_by_target:
            return "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule,"
                   " request_id, policy_revision, prev_hash, hash FROM audit_entries"
                   " WHERE tenant = ?1 AND target_type = ?7 AND target_id = ?8 AND sequence > ?2"
                   " AND (?3 IS NULL OR at_ms >= ?3) AND (?4 IS NULL OR at_ms < ?4) AND (?5 IS NULL OR actor_user = ?5)"
                   " AND (?6 IS NULL OR action = ?6) ORDER BY sequence LIMIT ?9";
        case Sql::audit_entry_get:
            return "SELECT hash, at_ms FROM audit_entries WHERE tenant = ?1 AND sequence = ?2";
        case Sql::audit_delete_through: return "DELETE FROM audit_entries WHERE tenant = ?1 AND sequence <= ?2";
        // ---- privacy (data-subject rights, schema v5) ----
        case Sql::message_scan_for_contact:
            return "SELECT id, direction, body, status, provider_message_id, created_at_ms, updated_at_ms, rowid"
                   " FROM messages WHERE tenant = ?1 AND contact_id = ?2 AND (created_at_ms, rowid) > (?3, ?4)"
                   " ORDER BY created_at_ms, rowid LIMIT ?5";
        case Sql::optout_erase_number:
            // What survives: kind, scope, method, time, channel, sequence and the keyword (a manual or
            // API event's trigger is a team member's free text, and goes).
            return "UPDATE optout_events SET erased_tag = ?3, phone_key = 0, phone_e164 = '', actor = NULL,"
                   " provider_message_id = '',"
                   " trigger_text = CASE WHEN method IN ('manual', 'api') THEN '' ELSE trigger_text END"
                   " WHERE tenant = ?1 AND phone_key = ?2 AND erased_tag IS NULL";
        case Sql::optout_scan_erased:
            return "SELECT sequence, erased_tag, kind, scope, method, at_ms, trigger_text, channel FROM optout_events"
                   " WHERE tenant = ?1 AND erased_tag IS NOT NULL AND sequence > ?2 ORDER BY sequence LIMIT ?3";
        case Sql::consent_records_for_phone:
            return "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
                   " WHERE tenant = ?1 AND phone_key = ?2 ORDER BY sequence";
        case Sql::consent_erase_number: return "DELETE FROM consent_records WHERE tenant = ?1 AND phone_key = ?2";
        case Sql::activity_forget: return "DELETE FROM inbound_activity WHERE tenant = ?1 AND phone_key = ?2";
        case Sql::request_upsert:
            return "INSERT INTO subject_requests (tenant, id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms,"
                   " extended, status, handled_by, acknowledged_at_ms, closed_at_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                   " ON CONFLICT (tenant, id) DO UPDATE SET type = excluded.type, subject = excluded.subject,"
                   " received_at_ms = excluded.received_at_ms, acknowledge_by_ms = excluded.acknowledge_by_ms,"
                   " due_by_ms = excluded.due_by_ms, extended = excluded.extended, status = excluded.status,"
                   " handled_by = excluded.handled_by, acknowledged_at_ms = excluded.acknowledged_at_ms,"
                   " closed_at_ms = excluded.closed_at_ms";
        case Sql::request_get:
            return "SELECT id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms, extended, status, handled_by,"
                   " acknowledged_at_ms, closed_at_ms FROM subject_requests WHERE tenant = ?1 AND id = ?2";
        case Sql::request_list:
            return "SELECT id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms, extended, status, handled_by,"
                   " acknowledged_at_ms, closed_at_ms FROM subject_requests WHERE tenant = ?1 AND id > ?2"
                   " AND (?4 = 0 OR status IN ('received', 'acknowledged')) ORDER BY id LIMIT ?3";
        case Sql::optout_scan_since:
            // Erased rows too (erased_tag set), so that a reader that shares the file sees every
            // sequence once, in one order.
            return "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor,"
                   " provider_message_id, phone_e164, erased_tag FROM optout_events WHERE tenant = ?1"
                   " AND sequence > ?2 ORDER BY sequence LIMIT ?3";
        case Sql::count_: break;
    }
    return "";
}

// ---------------------------------------------------------------------------------------------
// Errors

StorageErrc storage_errc(int rc) noexcept {
    switch (rc & 0xff) {
        case SQLITE_NOTADB: return StorageErrc::not_a_database;
        case SQLITE_CORRUPT: return StorageErrc::corrupt;
        case SQLITE_READONLY: return StorageErrc::read_only;
        case SQLITE_FULL: return StorageErrc::full;
        case SQLITE_TOOBIG: return StorageErrc::invalid_argument;
        case SQLITE_CONSTRAINT: return StorageErrc::conflict;
        default: return StorageErrc::unavailable;  // BUSY, LOCKED, IOERR, CANTOPEN, NOMEM, ...
    }
}

/// "<action> in '<path>' failed: <sqlite's message> (SQLite code N)".
Error sqlite_error(sqlite3* db, int rc, std::string_view action, const std::string& path) {
    const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db != nullptr && sqlite3_errcode(db) == SQLITE_OK) message = sqlite3_errstr(rc);
    std::string detail(action);
    detail.append(" in '").append(path).append("' failed: ").append(message);
    detail.append(" (SQLite code ").append(std::to_string(rc)).append(")");
    return Error(storage_errc(rc), std::move(detail));
}

Error invalid(const char* what) { return Error(StorageErrc::invalid_argument, what); }

// ---------------------------------------------------------------------------------------------
// Statements, binding and columns

/// Owns a statement prepared for one-off use (open-time checks, migrations).
struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using OwnedStmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

/// Borrows a cached statement; on scope exit resets it and clears its bindings, so a cached
/// statement never holds a read transaction open or keeps a value alive.
class Stmt {
public:
    explicit Stmt(sqlite3_stmt* s) noexcept : stmt_(s) {}
    Stmt(Stmt&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
    Stmt& operator=(Stmt&&) = delete;
    Stmt(const Stmt&) = delete;
    ~Stmt() {
        if (stmt_ != nullptr) {
            sqlite3_reset(stmt_);
            sqlite3_clear_bindings(stmt_);
        }
    }
    sqlite3_stmt* get() const noexcept { return stmt_; }

private:
    sqlite3_stmt* stmt_;
};

int bind_one(sqlite3_stmt* s, int index, std::string_view v) {
    // A null pointer would bind SQL NULL; an empty value is the empty text.
    const char* data = v.data() != nullptr ? v.data() : "";
    return sqlite3_bind_text64(s, index, data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
int bind_one(sqlite3_stmt* s, int index, std::int64_t v) { return sqlite3_bind_int64(s, index, v); }
int bind_one(sqlite3_stmt* s, int index, const audit::Hash& v) {
    return sqlite3_bind_blob64(s, index, v.data(), v.size(), SQLITE_TRANSIENT);
}
int bind_one(sqlite3_stmt* s, int index, std::span<const std::uint8_t> v) {
    // An empty BLOB, not NULL (a null pointer would bind NULL).
    if (v.empty()) return sqlite3_bind_zeroblob(s, index, 0);
    return sqlite3_bind_blob64(s, index, v.data(), v.size(), SQLITE_TRANSIENT);
}
int bind_one(sqlite3_stmt* s, int index, const crypto::Bytes& v) {
    return bind_one(s, index, std::span<const std::uint8_t>(v));
}

using Tag = crypto::BlindIndex::Tag;
int bind_one(sqlite3_stmt* s, int index, const Tag& v) { return bind_one(s, index, std::span<const std::uint8_t>(v)); }

/// What phone_key holds: the number itself in a plaintext store, its blind-index tag in an
/// encrypted one (see migration 3).
using PhoneRef = std::variant<std::int64_t, Tag>;
int bind_one(sqlite3_stmt* s, int index, const PhoneRef& v) {
    return std::visit([&](const auto& x) { return bind_one(s, index, x); }, v);
}

/// A sensitive column's value as it is bound: the text itself in a plaintext store, its
/// FieldCipher ciphertext in an encrypted one.
struct Sealed {
    std::string_view text;
    crypto::Bytes ciphertext;
    bool encrypted = false;
};
int bind_one(sqlite3_stmt* s, int index, const Sealed& v) {
    return v.encrypted ? bind_one(s, index, v.ciphertext) : bind_one(s, index, v.text);
}

template <class T>
int bind_one(sqlite3_stmt* s, int index, const std::optional<T>& v) {
    return v ? bind_one(s, index, *v) : sqlite3_bind_null(s, index);
}

/// Binds ?1, ?2, ... in order; returns the first failure's code or SQLITE_OK.
template <class... Args>
int bind_all(sqlite3_stmt* s, const Args&... args) {
    int index = 0;
    int rc = SQLITE_OK;
    ((rc = rc == SQLITE_OK ? bind_one(s, ++index, args) : rc), ...);
    return rc;
}

std::int64_t key_of(const PhoneNumber& p) noexcept { return static_cast<std::int64_t>(p.key()); }
std::int64_t ms(Timestamp t) noexcept { return to_unix_ms(t); }
std::int64_t clamp_limit(std::size_t n) noexcept {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, std::numeric_limits<std::int64_t>::max()));
}
template <class Tag>
std::optional<std::string_view> optional_id(const std::optional<Id<Tag>>& id) {
    if (!id) return std::nullopt;
    return std::string_view(id->value());
}
std::optional<std::int64_t> optional_ms(const std::optional<Timestamp>& t) {
    if (!t) return std::nullopt;
    return to_unix_ms(*t);
}

bool column_is_null(sqlite3_stmt* s, int i) { return sqlite3_column_type(s, i) == SQLITE_NULL; }
std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    const int n = sqlite3_column_bytes(s, i);
    return p != nullptr ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}
std::int64_t column_int(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }
/// A 32-byte blob; nullopt for anything else (a damaged row).
std::optional<audit::Hash> column_hash(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) != SQLITE_BLOB || sqlite3_column_bytes(s, i) != 32) return std::nullopt;
    audit::Hash h{};
    std::memcpy(h.data(), sqlite3_column_blob(s, i), h.size());
    return h;
}
Timestamp column_time(sqlite3_stmt* s, int i) { return from_unix_ms(sqlite3_column_int64(s, i)); }
/// A BLOB column's bytes (valid until the statement moves on); empty for anything else.
std::span<const std::uint8_t> column_blob(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) != SQLITE_BLOB) return {};
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
    const int n = sqlite3_column_bytes(s, i);
    if (p == nullptr || n <= 0) return {};
    return {p, static_cast<std::size_t>(n)};
}
/// A 16-byte BLOB (a blind-index tag); nullopt for anything else.
std::optional<Tag> column_tag(sqlite3_stmt* s, int i) {
    const auto bytes = column_blob(s, i);
    if (bytes.size() != Tag{}.size()) return std::nullopt;
    Tag tag{};
    std::memcpy(tag.data(), bytes.data(), tag.size());
    return tag;
}
template <class IdType>
std::optional<IdType> column_optional_id(sqlite3_stmt* s, int i) {
    if (column_is_null(s, i)) return std::nullopt;
    return IdType{column_text(s, i)};
}

// ---------------------------------------------------------------------------------------------
// Field encryption: names, the file's settings, and the columns a re-encryption pass walks

/// The place each encrypted column's ciphertexts are bound to (with the tenant and row id).
namespace fields {
constexpr crypto::FieldName contact_phone{"contacts", "phone"};
constexpr crypto::FieldName contact_name{"contacts", "name"};
constexpr crypto::FieldName contact_email{"contacts", "email"};
constexpr crypto::FieldName message_body{"messages", "body"};
constexpr crypto::FieldName optout_phone{"optout_events", "phone"};
constexpr crypto::FieldName consent_phone{"consent_records", "phone"};
constexpr crypto::FieldName activity_phone{"inbound_activity", "phone"};
constexpr crypto::FieldName key_check{"store_settings", "value"};
}  // namespace fields

/// store_settings rows. field_encryption is "off" or "aes-256-gcm"; key_check is a FieldCipher
/// ciphertext of key_check_text, blind_index_check the tag of the same text: at open they show
/// whether the keys given are the file's, before a wrong blind-index key could make every phone
/// lookup miss (which would read as "never opted out").
constexpr std::string_view encryption_setting = "field_encryption";
constexpr std::string_view encryption_off = "off";
constexpr std::string_view encryption_aes_gcm = "aes-256-gcm";
constexpr std::string_view key_check_setting = "key_check";
constexpr std::string_view blind_index_check_setting = "blind_index_check";
constexpr std::string_view key_check_text = "heroshhi field encryption check";
/// The tenant the file's own check values are bound to (the crypto needs one; no port reads it).
constexpr std::string_view store_tenant_id = "heroshhi.store";

/// How a row of an encrypted table is identified in its ciphertexts' associated data and found
/// again by a re-encryption scan.
enum class RowKey {
    setting,    ///< the key_check row of store_settings
    text_id,    ///< (tenant, id): contacts, messages; scanned by rowid
    sequence,   ///< (tenant, sequence): opt-out events, consent records; the row id is the number
    phone_tag,  ///< (tenant, phone_key tag): inbound activity; the row id is the tag in hex
};

struct SealedColumn {
    crypto::FieldName field;
    Sql replace;  ///< compare-and-swap of the column's ciphertext
};

/// One table's encrypted columns, in the order a scan hands them out.
struct SealedTable {
    Sql scan;
    RowKey key;
    std::array<SealedColumn, 3> columns;
    std::size_t width;
};

constexpr std::array<SealedTable, 6> sealed_tables{{
    {Sql::sealed_scan_settings, RowKey::setting, {{{fields::key_check, Sql::sealed_replace_key_check}}}, 1},
    {Sql::sealed_scan_contacts,
     RowKey::text_id,
     {{{fields::contact_phone, Sql::sealed_replace_contact_phone},
       {fields::contact_name, Sql::sealed_replace_contact_name},
       {fields::contact_email, Sql::sealed_replace_contact_email}}},
     3},
    {Sql::sealed_scan_messages, RowKey::text_id, {{{fields::message_body, Sql::sealed_replace_message_body}}}, 1},
    {Sql::sealed_scan_optouts, RowKey::sequence, {{{fields::optout_phone, Sql::sealed_replace_optout_phone}}}, 1},
    {Sql::sealed_scan_consents, RowKey::sequence, {{{fields::consent_phone, Sql::sealed_replace_consent_phone}}}, 1},
    {Sql::sealed_scan_activity, RowKey::phone_tag, {{{fields::activity_phone, Sql::sealed_replace_activity_phone}}}, 1},
}};

/// A row of a SealedTable as a scan reads it.
struct SealedRow {
    std::int64_t rowid = 0;  ///< position in setting, text_id and sequence tables
    Tag tag{};               ///< position (with the tenant) in the phone_tag table
    std::string tenant;
    std::string row_id;      ///< what the ciphertexts are bound to
    std::array<crypto::Bytes, 3> values;
};

/// Where a re-encryption scan stands: the last field handed out (table, row, column).
/// Encoded as "table/position/column"; the position is the rowid, or hex(tenant) "." hex(tag).
struct SealedCursor {
    std::size_t table = 0;
    std::int64_t rowid = 0;
    std::string tenant;
    Tag tag{};
    std::size_t column = 0;

    bool at(const SealedRow& row, RowKey key) const {
        return key == RowKey::phone_tag ? row.tenant == tenant && row.tag == tag : row.rowid == rowid;
    }
};

std::optional<std::vector<std::uint8_t>> unhex(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::vector<std::uint8_t> out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = nibble(text[i]);
        const int lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

std::optional<Tag> tag_from_hex(std::string_view text) {
    auto bytes = unhex(text);
    if (!bytes || bytes->size() != Tag{}.size()) return std::nullopt;
    Tag tag{};
    std::copy(bytes->begin(), bytes->end(), tag.begin());
    return tag;
}

template <class Int>
std::optional<Int> parse_number(std::string_view text) {
    Int value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::string encode_cursor(const SealedCursor& c) {
    std::string out = std::to_string(c.table);
    out += '/';
    if (sealed_tables[c.table].key == RowKey::phone_tag) {
        out += hex({reinterpret_cast<const std::uint8_t*>(c.tenant.data()), c.tenant.size()});
        out += '.';
        out += hex(c.tag);
    } else {
        out += std::to_string(c.rowid);
    }
    out += '/';
    out += std::to_string(c.column);
    return out;
}

std::optional<SealedCursor> decode_cursor(std::string_view text) {
    const auto first = text.find('/');
    const auto last = text.rfind('/');
    if (first == std::string_view::npos || first == last) return std::nullopt;
    SealedCursor c;
    const auto table = parse_number<std::size_t>(text.substr(0, first));
    const auto column = parse_number<std::size_t>(text.substr(last + 1));
    if (!table || *table >= sealed_tables.size() || !column || *column >= sealed_tables[*table].width) return std::nullopt;
    c.table = *table;
    c.column = *column;
    const std::string_view position = text.substr(first + 1, last - first - 1);
    if (sealed_tables[c.table].key == RowKey::phone_tag) {
        const auto dot = position.find('.');
        if (dot == std::string_view::npos) return std::nullopt;
        const auto tenant = unhex(position.substr(0, dot));
        const auto tag = tag_from_hex(position.substr(dot + 1));
        if (!tenant || !tag) return std::nullopt;
        c.tenant.assign(tenant->begin(), tenant->end());
        c.tag = *tag;
    } else {
        const auto rowid = parse_number<std::int64_t>(position);
        if (!rowid) return std::nullopt;
        c.rowid = *rowid;
    }
    return c;
}

/// A number from its stored E.164 text ("+14155550123"), without libphonenumber: the text was
/// made by PhoneNumber::e164().
std::optional<PhoneNumber> phone_from_e164(std::string_view text) {
    if (text.size() < 2 || text.front() != '+') return std::nullopt;
    const auto key = parse_number<std::uint64_t>(text.substr(1));
    if (!key) return std::nullopt;
    auto phone = PhoneNumber::from_key(*key);
    if (!phone) return std::nullopt;
    return std::move(phone).value();
}

/// Prepares and runs every statement of a constant script (DDL, transaction control).
int run_script(sqlite3* db, const char* script) {
    const char* rest = script;
    while (rest != nullptr && *rest != '\0') {
        sqlite3_stmt* raw = nullptr;
        int rc = sqlite3_prepare_v2(db, rest, -1, &raw, &rest);
        if (rc != SQLITE_OK) return rc;
        if (raw == nullptr) continue;  // only whitespace or a comment was left
        OwnedStmt stmt(raw);
        while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
}

/// Runs a constant one-row query (a PRAGMA read) and returns its first column.
struct QueryAnswer {
    int rc = SQLITE_OK;
    std::int64_t number = 0;
    std::string text;
    bool has_row = false;
};
QueryAnswer query_one(sqlite3* db, const char* sql) {
    QueryAnswer answer;
    sqlite3_stmt* raw = nullptr;
    answer.rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    if (answer.rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return answer;
    }
    OwnedStmt stmt(raw);
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
        answer.has_row = true;
        answer.number = sqlite3_column_int64(raw, 0);
        answer.text = column_text(raw, 0);
        while ((answer.rc = sqlite3_step(raw)) == SQLITE_ROW) {
        }
        if (answer.rc == SQLITE_DONE) answer.rc = SQLITE_OK;
    } else {
        answer.rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    return answer;
}

/// Closes a connection that never became a store.
struct ConnectionCloser {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using OwnedConnection = std::unique_ptr<sqlite3, ConnectionCloser>;

}  // namespace

// -------------------------------------------------------------------------------------------------
// Impl: one connection behind one mutex; implements every port.

class SqliteStore::Impl final : public ContactStore,
                                public MessageStore,
                                public OptOutStore,
                                public ConsentStore,
                                public ActivityStore,
                                public DedupStore,
                                public AuditStore,
                                public RequestStore,
                                public crypto::EncryptedFieldSource {
public:
    static Result<std::unique_ptr<Impl>> open(const std::string& path, const SqliteOptions& options);

    Impl(sqlite3* db, std::string path, bool read_only, const SqliteOptions& options) noexcept
        : db_(db), path_(std::move(path)), read_only_(read_only), blind_index_(options.blind_index) {
        statements_.fill(nullptr);
        if (options.keys != nullptr) cipher_.emplace(*options.keys);
    }
    ~Impl() override {
        stop_committer();  // first: its writes still use the connection
        for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
        sqlite3_close_v2(db_);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    // ContactStore
    Result<void> put(const Contact& contact) override;
    Result<std::optional<Contact>> get(const TenantId& tenant, const ContactId& id) const override;
    Result<std::optional<Contact>> find_by_phone(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<std::vector<Contact>> list(const TenantId& tenant, const Page& page) const override;
    Result<std::vector<Contact>> list_held(const TenantId& tenant, const Page& page) const override;
    Result<std::vector<Contact>> list_contacts(Sql query, const TenantId& tenant, const Page& page) const;
    Result<bool> soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) override;
    Result<bool> hard_delete(const TenantId& tenant, const ContactId& id) override;
    // MessageStore
    Result<bool> append(const MessageRecord& message) override;
    Result<bool> update_status(const TenantId& tenant, const MessageId& id, MessageStatus status,
                               Timestamp at) override;
    Result<bool> record_sent(const TenantId& tenant, const MessageId& id, std::string_view provider_message_id,
                             Timestamp at) override;
    Result<std::optional<MessageId>> update_status_by_provider_id(const TenantId& tenant,
                                                                std::string_view provider_message_id,
                                                                MessageStatus status, Timestamp at) override;
    Result<std::vector<MessageRecord>> list_for_contact(const TenantId& tenant, const ContactId& contact,
                                                       std::size_t limit) const override;
    Result<void> scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                  const std::function<void(const MessageRecord&)>& visit) const override;
    // OptOutStore
    Result<bool> append(optout::OptOutEvent& event) override;
    /// Always takes the write (returns true), as record_inbound_async does.
    bool append_async(const optout::OptOutEvent& event, AppendDone&& done) override;
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<void> scan(const TenantId& tenant,
                      const std::function<void(const optout::OptOutEvent&)>& visit) const override;
    Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                     const optout::NumberTag& tag) override;
    Result<void> scan_erased(const TenantId& tenant,
                             const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const override;
    Result<void> scan_since(const TenantId& tenant, std::int64_t after_sequence,
                            const std::function<void(const optout::OptOutEvent&)>& visit,
                            const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const override;
    // ConsentStore
    Result<void> append(const ConsentRecord& record) override;
    Result<std::optional<ConsentRecord>> latest(const TenantId& tenant, const PhoneNumber& phone,
                                                Purpose purpose) const override;
    Result<void> scan(const TenantId& tenant, const std::function<void(const ConsentRecord&)>& visit) const override;
    Result<std::vector<ConsentRecord>> records(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone) override;
    // ActivityStore
    Result<void> record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) override;
    /// Always takes the write (returns true): a failure found before the write is queued (a
    /// read-only store, an empty tenant, a key missing) is delivered to `done` before returning.
    bool record_inbound_async(const TenantId& tenant, const PhoneNumber& phone, Timestamp at,
                              WriteDone&& done) override;
    Result<std::optional<Timestamp>> last_inbound(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<void> scan(const TenantId& tenant,
                      const std::function<void(const PhoneNumber&, Timestamp)>& visit) const override;
    Result<bool> forget(const TenantId& tenant, const PhoneNumber& phone) override;
    // DedupStore
    Result<bool> remember(const TenantId& tenant, std::string_view key, Timestamp at) override;
    // AuditStore
    Result<void> append(const TenantId& tenant, std::span<const audit::Entry> entries,
                        const audit::ChainHead& expected) override;
    Result<audit::ChainState> chain(const TenantId& tenant) const override;
    Result<std::vector<audit::Entry>> query(const audit::Query& query) const override;
    Result<std::size_t> scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                             const std::function<bool(const audit::EntryView&)>& visit) const override;
    Result<std::int64_t> purge_through(const TenantId& tenant, std::int64_t through) override;
    // RequestStore
    Result<void> put(const privacy::SubjectRequest& request) override;
    Result<std::optional<privacy::SubjectRequest>> get(const TenantId& tenant, std::string_view id) const override;
    Result<std::vector<privacy::SubjectRequest>> list(const TenantId& tenant, const Page& page,
                                                      bool open_only) const override;
    /// See SqliteStore::scrub.
    Result<void> scrub();
    // crypto::EncryptedFieldSource
    Result<std::vector<crypto::EncryptedField>> next_batch(std::string_view cursor, std::size_t limit,
                                                           crypto::KeyId primary) override;
    Result<bool> replace(const crypto::EncryptedField& field, const crypto::Bytes& replacement) override;

    bool encrypted() const noexcept { return encrypted_; }

    /// The connection for the retention ports (src/storage/sqlite_retention.cpp).
    detail::SqliteHandle retention_handle() noexcept { return {db_, mutex_, path_, read_only_}; }

private:
    /// Commits on commit(); rolls back in the destructor otherwise. Caller holds mutex_.
    /// Inside a group commit (see write()) it is a savepoint of the group's transaction, so the
    /// same code is all-or-nothing either way.
    class Transaction {
    public:
        explicit Transaction(const Impl& impl) noexcept : impl_(impl) {}
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        ~Transaction() {
            if (!active_ || sqlite3_get_autocommit(impl_.db_) != 0) return;
            if (nested_) {
                if (auto st = impl_.statement(Sql::rollback_to_tx)) sqlite3_step(st->get());
                if (auto st = impl_.statement(Sql::release_tx)) sqlite3_step(st->get());
            } else if (auto st = impl_.statement(Sql::rollback)) {
                sqlite3_step(st->get());
            }
        }
        Result<void> begin() {
            nested_ = sqlite3_get_autocommit(impl_.db_) == 0;
            if (auto rc = impl_.run(nested_ ? Sql::savepoint_tx : Sql::begin_immediate, "starting a transaction"); !rc)
                return rc;
            active_ = true;
            return {};
        }
        Result<void> commit() {
            if (auto rc = impl_.run(nested_ ? Sql::release_tx : Sql::commit, "committing a transaction"); !rc) return rc;
            active_ = false;
            return {};
        }

    private:
        const Impl& impl_;
        bool active_ = false;
        bool nested_ = false;
    };

    /// One caller's write waiting for a group commit: `run` calls the caller's body with mutex_
    /// held inside the group's transaction and says whether it succeeded.
    struct PendingWrite {
        bool (*run)(void* body) = nullptr;
        void* body = nullptr;
        /// Set for a write nobody waits for (see record_inbound_async): called once its group is
        /// done, outside both mutexes, to deliver the outcome and free the write (`wake`,
        /// `finished` and `lead` are then unused).
        void (*complete)(PendingWrite& self) noexcept = nullptr;
        /// The body runs one SQL statement and nothing after it that can fail: it needs no
        /// savepoint, since SQLite undoes a failing statement by itself (a constraint error backs
        /// out the statement alone; an error that ends the transaction is seen as one).
        bool one_statement = false;
        std::optional<Error> error;  ///< set when the write failed outside its body (group failure, exception)
        // Under queue_mutex_: each waiter is woken alone, when its group is done or it is to lead
        // the next one (waking every queued writer after each commit costs more than the commit).
        std::condition_variable wake;
        bool finished = false;
        bool lead = false;
    };

    /// Runs `body` (which uses the connection; mutex_ is held while it runs) as one atomic write and
    /// returns its result once durable. Writes arriving while a commit is in flight are queued and
    /// committed together by one of their callers (the leader) in one transaction, with one sync
    /// to disk: each in its own savepoint, so a body that fails is rolled back alone, and each
    /// caller gets its own result. If the transaction as a whole fails (commit error, disk full),
    /// every write of the group fails with that error and none of them is stored.
    /// The body must not call the store's own methods (it runs under mutex_, maybe on another thread).
    template <class T, class Body>
    Result<T> write(Body&& body);
    /// Queues `me`, then waits until a leader has committed it, or leads a group itself.
    void commit_with_others(PendingWrite& me);
    /// Queues a write nobody waits for (PendingWrite::complete set); if no group is in flight,
    /// wakes the committer thread to lead one. Starts that thread on first use. Throws (and
    /// queues nothing) if the thread cannot be started or memory is short.
    void enqueue_detached(PendingWrite& write);
    /// Commits everything queued as one group, wakes its waiters, runs its completions, then
    /// hands leadership over (hand_over). Called with `lock` (on queue_mutex_) held by the
    /// leader, `me` its own write (nullptr for the committer thread); returns with it held.
    void lead(std::unique_lock<std::mutex>& lock, const PendingWrite* me);
    /// Under queue_mutex_, after a group: the first queued writer leads the next group, or the
    /// committer thread if nobody waits for that write; with nothing queued, nobody does.
    void hand_over();
    /// The committer thread: leads the groups handed to it until the store stops and nothing is
    /// queued or in flight.
    void committer_loop();
    /// Lets the committer thread drain the queue (every queued write committed, every completion
    /// run), then joins it. Called by the destructor, when no caller may queue any more.
    void stop_committer() noexcept;
    /// The body append and append_async share: the sequence, or 0 for a known provider message id
    /// (caller holds mutex_).
    Result<std::int64_t> insert_event(const optout::OptOutEvent& e, const PhoneRef& ref);
    /// The body record_inbound and record_inbound_async share (caller holds mutex_).
    Result<void> upsert_inbound(const TenantId& tenant, const PhoneRef& ref, const Sealed& sealed, Timestamp at) const;
    /// The leader's part: one transaction for `group` (takes mutex_).
    void commit_group(const std::vector<PendingWrite*>& group) noexcept;

    // All of these expect mutex_ to be held.
    Result<Stmt> statement(Sql q) const;
    Result<void> run(Sql q, std::string_view action) const;  ///< a statement without parameters or rows
    Error failure(int rc, std::string_view action) const { return sqlite_error(db_, rc, action, path_); }
    Error corrupt_row(std::string_view what) const {
        std::string detail = "a stored ";
        detail.append(what).append(" in '").append(path_).append("' cannot be read back");
        return Error(StorageErrc::corrupt, std::move(detail));
    }
    Result<void> writable() const {
        if (!read_only_) return {};
        return Error(StorageErrc::read_only, std::string("'").append(path_).append("' was opened read-only"));
    }
    Result<PhoneNumber> column_phone(sqlite3_stmt* s, int i) const;

    // Field encryption. None of these needs mutex_ except settle_encryption and sealed_rows.
    /// Decides the file's mode at open (see SqliteOptions::keys) and checks the keys against it.
    Result<void> settle_encryption(const SqliteOptions& options);
    Result<std::optional<std::string>> read_setting(std::string_view name) const;
    Result<void> write_setting(std::string_view name, const Sealed& value) const;
    Result<void> check_keys() const;
    /// What phone_key holds for `phone` in this store.
    Result<PhoneRef> phone_ref(const TenantId& tenant, const PhoneNumber& phone) const;
    /// The value to bind for a sensitive column: `plaintext` itself, or its ciphertext.
    Result<Sealed> seal(const TenantId& tenant, crypto::FieldName field, std::string_view row_id,
                        std::string_view plaintext) const;
    /// A sensitive column's plaintext; in an encrypted store only a ciphertext for this place is accepted.
    Result<std::string> unseal(sqlite3_stmt* s, int i, const TenantId& tenant, crypto::FieldName field,
                               std::string_view row_id) const;
    /// A stored phone number: from phone_key (the number) in a plaintext store, from the
    /// ciphertext in column `sealed` in an encrypted one.
    Result<PhoneNumber> read_phone(sqlite3_stmt* s, int key, int sealed, const TenantId& tenant,
                                   crypto::FieldName field, std::string_view row_id) const;
    Error crypto_failure(const Error& error, std::string_view action, crypto::FieldName field,
                         std::string_view row_id) const;
    Error blind_index_failure(const Error& error) const {
        return Error(error == crypto::CryptoErrc::invalid_argument ? StorageErrc::invalid_argument : StorageErrc::unavailable,
                     "computing a blind index for '" + path_ + "' failed: " + error.message());
    }
    /// Appends an opt-out event or consent record whose phone ciphertext is bound to the sequence
    /// the insert assigns: the insert stores a placeholder, and `seal_phone` the ciphertext, in one
    /// transaction. Returns the sequence, or 0 if the insert stored nothing (caller holds mutex_).
    template <class Bind>
    Result<std::int64_t> insert_with_sealed_phone(Sql insert, Sql seal_phone, crypto::FieldName field,
                                                  const TenantId& tenant, const PhoneNumber& phone,
                                                  std::string_view action, Bind&& bind_insert);
    /// Up to `limit` rows of `table` from `from` on (inclusive). Takes mutex_.
    Result<std::vector<SealedRow>> sealed_rows(const SealedTable& table, const SealedCursor& from,
                                               std::size_t limit) const;

    Result<Contact> read_contact(sqlite3_stmt* s, const TenantId& tenant) const;
    Result<MessageRecord> read_message(sqlite3_stmt* s, const TenantId& tenant, const ContactId& contact) const;
    Result<optout::OptOutEvent> read_event(sqlite3_stmt* s, const TenantId& tenant) const;
    Result<ConsentRecord> read_consent(sqlite3_stmt* s, const TenantId& tenant) const;
    Result<audit::Entry> read_audit_entry(sqlite3_stmt* s, const TenantId& tenant) const;
    Result<audit::ChainState> read_chain(const TenantId& tenant) const;
    Result<privacy::SubjectRequest> read_request(sqlite3_stmt* s, const TenantId& tenant) const;
    /// Runs a statement bound to (tenant, phone_key of `phone`) that changes rows; returns how many.
    Result<std::size_t> change_by_phone(Sql q, const TenantId& tenant, const PhoneNumber& phone,
                                        std::string_view action);

    sqlite3* db_;
    std::string path_;
    bool read_only_;
    std::optional<crypto::FieldCipher> cipher_;    // set when opened with keys
    const crypto::BlindIndex* blind_index_;        // set when opened with keys
    bool encrypted_ = false;                       // the file's mode, settled at open
    mutable std::mutex mutex_;
    mutable std::array<sqlite3_stmt*, static_cast<std::size_t>(Sql::count_)> statements_{};
    // Group commit (see write()): queue_mutex_ guards the two below; never held with mutex_.
    std::mutex queue_mutex_;
    std::vector<PendingWrite*> queued_;  // non-empty only while committing_
    bool committing_ = false;  // a leader is running a group, or has been chosen to run the next
    // The committer thread (record_inbound_async): started on the first asynchronous write;
    // committer_, committer_lead_ and stopping_ are guarded by queue_mutex_ too.
    std::thread committer_;
    std::condition_variable committer_wake_;
    bool committer_lead_ = false;  // the committer is chosen to lead the next group
    bool stopping_ = false;        // the store is being destroyed: drain, then end the committer
};

// ---------------------------------------------------------------------------------------------
// Opening, checking and migrating

Result<std::unique_ptr<SqliteStore::Impl>> SqliteStore::Impl::open(const std::string& path,
                                                                   const SqliteOptions& options) {
    if (path.empty() || path.find('\0') != std::string::npos)
        return invalid("the database path is empty or contains a NUL byte");
    if (options.busy_timeout.count() < 0) return invalid("the busy timeout is negative");
    if ((options.keys == nullptr) != (options.blind_index == nullptr))
        return invalid("field encryption needs both a key ring and a blind index");

    const int flags = (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                      SQLITE_OPEN_NOMUTEX;  // the store's own mutex serialises every use
    sqlite3* raw = nullptr;
    const int open_rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    OwnedConnection db(raw);
    if (open_rc != SQLITE_OK) return sqlite_error(raw, open_rc, "opening the database", path);
    sqlite3_extended_result_codes(db.get(), 1);
    const auto timeout = std::min<std::int64_t>(options.busy_timeout.count(), INT_MAX);
    sqlite3_busy_timeout(db.get(), static_cast<int>(timeout));

    // 1. Look, but do not touch: nothing below writes until the file is known to be ours.
    const auto app_id = query_one(db.get(), "PRAGMA application_id");
    if (app_id.rc != SQLITE_OK) {
        if ((app_id.rc & 0xff) == SQLITE_NOTADB)
            return Error(StorageErrc::not_a_database,
                         "'" + path + "' is not an SQLite database (" + sqlite3_errmsg(db.get()) +
                             "); it was left unchanged");
        return sqlite_error(db.get(), app_id.rc, "reading the application id", path);
    }
    const auto version = query_one(db.get(), "PRAGMA user_version");
    if (version.rc != SQLITE_OK) return sqlite_error(db.get(), version.rc, "reading the schema version", path);
    const auto objects = query_one(db.get(), "SELECT count(*) FROM sqlite_master");
    if (objects.rc != SQLITE_OK) return sqlite_error(db.get(), objects.rc, "reading the schema", path);

    const bool ours = app_id.number == heroshhi_application_id;
    const bool blank = app_id.number == 0 && version.number == 0 && objects.number == 0;
    if (!ours && !blank)
        return Error(StorageErrc::not_a_database,
                     "'" + path + "' is an SQLite database of another application (application id " +
                         std::to_string(app_id.number) + ", schema version " + std::to_string(version.number) +
                         "); it was left unchanged");
    if (version.number > schema_version)
        return Error(StorageErrc::newer_schema,
                     "'" + path + "' has schema version " + std::to_string(version.number) +
                         ", newer than version " + std::to_string(schema_version) +
                         " which this build of heroshhi reads; it was left unchanged");
    if (options.read_only && version.number != schema_version) {
        if (version.number == 0)
            return Error(StorageErrc::not_a_database,
                         "'" + path + "' holds no heroshhi schema yet and was opened read-only");
        return Error(StorageErrc::read_only,
                     "'" + path + "' has schema version " + std::to_string(version.number) +
                         ", older than version " + std::to_string(schema_version) +
                         "; it must be opened read-write once to be migrated");
    }

    // A file written before field encryption holds plaintext: keys cannot apply to it, and it is
    // refused before the migration below would touch it.
    if (options.keys != nullptr && version.number > 0 && version.number < 3) {
        const auto rows = query_one(db.get(),
                                    "SELECT EXISTS (SELECT 1 FROM contacts) OR EXISTS (SELECT 1 FROM optout_events)"
                                    " OR EXISTS (SELECT 1 FROM consent_records) OR EXISTS (SELECT 1 FROM inbound_activity)");
        if (rows.rc != SQLITE_OK) return sqlite_error(db.get(), rows.rc, "looking for plaintext rows", path);
        if (rows.number != 0)
            return Error(StorageErrc::not_encrypted,
                         "'" + path + "' holds rows written without field encryption and was opened with keys;"
                                      " it was left unchanged");
    }

    // 2. Configure the connection.
    if (!options.read_only) {
        const auto mode = query_one(db.get(), "PRAGMA journal_mode = WAL");
        if (mode.rc != SQLITE_OK) return sqlite_error(db.get(), mode.rc, "switching to WAL mode", path);
        if (mode.text != "wal" && mode.text != "memory")
            return Error(StorageErrc::unavailable,
                         "'" + path + "' could not be switched to WAL mode (journal mode is '" + mode.text + "')");
    }
    if (const int rc = run_script(db.get(), "PRAGMA foreign_keys = ON"); rc != SQLITE_OK)
        return sqlite_error(db.get(), rc, "enabling foreign keys", path);
    if (const auto fk = query_one(db.get(), "PRAGMA foreign_keys"); fk.rc != SQLITE_OK || fk.number != 1)
        return Error(StorageErrc::unavailable, "this SQLite library cannot enforce foreign keys");
    // An erased or rectified value must not linger in free space of the file: deleted content is
    // overwritten with zeros (the write-ahead log is emptied by scrub()).
    if (const auto sd = query_one(db.get(), "PRAGMA secure_delete = ON"); sd.rc != SQLITE_OK || sd.number != 1)
        return Error(StorageErrc::unavailable, "this SQLite library cannot overwrite deleted content (secure_delete)");

    // 3. Migrate forward, one transaction per step. Another process may be migrating the same
    //    file: the version is read again inside each step's write transaction.
    if (!options.read_only) {
        for (const Migration& step : migrations) {
            if (version.number >= step.version) continue;
            if (const int rc = run_script(db.get(), "BEGIN IMMEDIATE"); rc != SQLITE_OK)
                return sqlite_error(db.get(), rc, "starting a schema migration", path);
            const auto current = query_one(db.get(), "PRAGMA user_version");
            int rc = current.rc;
            if (rc == SQLITE_OK && current.number < step.version) rc = run_script(db.get(), step.script);
            if (rc == SQLITE_OK) rc = run_script(db.get(), "COMMIT");
            if (rc != SQLITE_OK) {
                Error error = sqlite_error(db.get(), rc, "migrating to schema version " + std::to_string(step.version), path);
                if (sqlite3_get_autocommit(db.get()) == 0) run_script(db.get(), "ROLLBACK");
                return error;
            }
        }
        const auto final_version = query_one(db.get(), "PRAGMA user_version");
        const auto final_id = query_one(db.get(), "PRAGMA application_id");
        if (final_version.rc != SQLITE_OK) return sqlite_error(db.get(), final_version.rc, "reading the schema version", path);
        if (final_id.rc != SQLITE_OK) return sqlite_error(db.get(), final_id.rc, "reading the application id", path);
        if (final_version.number > schema_version)
            return Error(StorageErrc::newer_schema,
                         "'" + path + "' was migrated by a newer heroshhi to schema version " +
                             std::to_string(final_version.number) + " while opening");
        if (final_version.number != schema_version || final_id.number != heroshhi_application_id)
            return Error(StorageErrc::unavailable, "'" + path + "' did not reach schema version " +
                                                       std::to_string(schema_version) + " after migrating");
    }

    auto impl = std::make_unique<Impl>(db.release(), path, options.read_only, options);
    if (auto ok = impl->settle_encryption(options); !ok) return ok.error();
    return impl;
}

Result<std::optional<std::string>> SqliteStore::Impl::read_setting(std::string_view name) const {
    auto st = statement(Sql::settings_get);
    if (!st) return st.error();
    int rc = bind_all(st->get(), name);
    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
    if (rc == SQLITE_DONE) return std::optional<std::string>{};
    if (rc != SQLITE_ROW) return failure(rc, "reading the store's settings");
    // TEXT or BLOB alike: the bytes as stored.
    const auto* p = static_cast<const char*>(sqlite3_column_blob(st->get(), 0));
    const int n = sqlite3_column_bytes(st->get(), 0);
    return std::optional<std::string>{p != nullptr ? std::string(p, static_cast<std::size_t>(n)) : std::string()};
}

Result<void> SqliteStore::Impl::write_setting(std::string_view name, const Sealed& value) const {
    auto st = statement(Sql::settings_insert);
    if (!st) return st.error();
    int rc = bind_all(st->get(), name, value);
    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
    if (rc != SQLITE_DONE) return failure(rc, "writing the store's settings");
    return {};
}

Result<void> SqliteStore::Impl::settle_encryption(const SqliteOptions& options) {
    std::lock_guard lock(mutex_);
    const bool with_keys = cipher_.has_value();
    auto mode = read_setting(encryption_setting);
    if (!mode) return mode.error();
    if (!*mode && !read_only_) {
        // The first writer of a file without sensitive rows fixes its mode, with the check values.
        Transaction tx(*this);
        if (auto ok = tx.begin(); !ok) return ok;
        mode = read_setting(encryption_setting);  // again, under the write lock
        if (!mode) return mode.error();
        if (!*mode) {
            *mode = std::string(with_keys ? encryption_aes_gcm : encryption_off);
            if (auto ok = write_setting(encryption_setting, Sealed{**mode, {}, false}); !ok) return ok;
            if (with_keys) {
                encrypted_ = true;  // so that seal() encrypts the check value
                const TenantId store_tenant{store_tenant_id};
                auto check = seal(store_tenant, fields::key_check, key_check_setting, key_check_text);
                if (!check) return check.error();
                auto tag = options.blind_index->compute(store_tenant, "store-check", key_check_text);
                if (!tag) return blind_index_failure(tag.error());
                if (auto ok = write_setting(key_check_setting, *check); !ok) return ok;
                Sealed tag_value{{}, crypto::Bytes(tag->begin(), tag->end()), true};
                if (auto ok = write_setting(blind_index_check_setting, tag_value); !ok) return ok;
            }
        }
        if (auto ok = tx.commit(); !ok) return ok;
    }
    if (!*mode) {
        // Read-only and still without a mode: nothing sensitive is stored yet.
        encrypted_ = with_keys;
        return {};
    }
    if (**mode == encryption_off) {
        encrypted_ = false;
        if (!with_keys) return {};
        return Error(StorageErrc::not_encrypted, "'" + path_ +
                                                     "' was written without field encryption and was opened with keys;"
                                                     " it was left unchanged");
    }
    if (**mode == encryption_aes_gcm) {
        encrypted_ = true;
        if (!with_keys)
            return Error(StorageErrc::key_unavailable,
                         "'" + path_ + "' is encrypted: open it with SqliteOptions::keys and blind_index");
        return check_keys();
    }
    return Error(StorageErrc::newer_schema,
                 "'" + path_ + "' uses a field encryption mode this build does not know; it was left unchanged");
}

/// The keys given must be the file's: its key check value decrypts, and the blind index gives the
/// tag it gave when the file was created (another index key would make every phone lookup miss).
Result<void> SqliteStore::Impl::check_keys() const {
    const TenantId store_tenant{store_tenant_id};
    auto expected = read_setting(blind_index_check_setting);
    if (!expected) return expected.error();
    auto tag = blind_index_->compute(store_tenant, "store-check", key_check_text);
    if (!tag) return blind_index_failure(tag.error());
    if (!*expected || **expected != std::string_view(reinterpret_cast<const char*>(tag->data()), tag->size()))
        return Error(StorageErrc::key_unavailable,
                     "the blind index was given another key than the one '" + path_ +
                         "' was written with: phone numbers could not be found; it was left unchanged");
    auto check = read_setting(key_check_setting);
    if (!check) return check.error();
    if (!*check) return corrupt_row("key check value");
    const auto* bytes = reinterpret_cast<const std::uint8_t*>((*check)->data());
    auto plain = cipher_->decrypt(store_tenant, fields::key_check, key_check_setting, {bytes, (*check)->size()});
    if (plain && *plain == key_check_text) return {};
    const auto id = crypto::FieldCipher::key_id({bytes, (*check)->size()});
    const std::string key = id ? "key " + std::to_string(id->value) : "its key";
    if (!plain && plain.error() == crypto::CryptoErrc::unknown_key)
        return Error(StorageErrc::key_unavailable, "'" + path_ + "' is encrypted under " + key +
                                                       ", which the key ring does not hold; it was left unchanged");
    return Error(StorageErrc::key_unavailable, "the key ring's " + key + " is not the key '" + path_ +
                                                   "' was encrypted with; it was left unchanged");
}

Result<PhoneRef> SqliteStore::Impl::phone_ref(const TenantId& tenant, const PhoneNumber& phone) const {
    if (!encrypted_) return PhoneRef{key_of(phone)};
    auto tag = blind_index_->phone(tenant, phone);
    if (!tag) return blind_index_failure(tag.error());
    return PhoneRef{*tag};
}

Result<Sealed> SqliteStore::Impl::seal(const TenantId& tenant, crypto::FieldName field, std::string_view row_id,
                                       std::string_view plaintext) const {
    if (!encrypted_) return Sealed{plaintext, {}, false};
    auto ciphertext = cipher_->encrypt(tenant, field, row_id, plaintext);
    if (!ciphertext) return crypto_failure(ciphertext.error(), "encrypting", field, row_id);
    return Sealed{{}, std::move(ciphertext).value(), true};
}

Result<std::string> SqliteStore::Impl::unseal(sqlite3_stmt* s, int i, const TenantId& tenant, crypto::FieldName field,
                                              std::string_view row_id) const {
    if (!encrypted_) return column_text(s, i);
    if (sqlite3_column_type(s, i) != SQLITE_BLOB)
        return Error(StorageErrc::corrupt, "a stored " + std::string(field.table) + "." + std::string(field.column) +
                                               " of row '" + std::string(row_id) + "' in '" + path_ +
                                               "' is not encrypted, in an encrypted store");
    auto plain = cipher_->decrypt(tenant, field, row_id, column_blob(s, i));
    if (!plain) return crypto_failure(plain.error(), "decrypting", field, row_id);
    return plain;
}

Result<PhoneNumber> SqliteStore::Impl::read_phone(sqlite3_stmt* s, int key, int sealed, const TenantId& tenant,
                                                  crypto::FieldName field, std::string_view row_id) const {
    if (!encrypted_) return column_phone(s, key);
    auto text = unseal(s, sealed, tenant, field, row_id);
    if (!text) return text.error();
    auto phone = phone_from_e164(*text);
    if (!phone) return corrupt_row("phone number");
    return std::move(*phone);
}

/// A crypto error on the way to or from the file, as a storage error: a key the ring lacks is
/// key_unavailable; a ciphertext that fails authentication (altered, or copied from another row or
/// tenant) or is malformed is corrupt. The detail names the place, never the value.
Error SqliteStore::Impl::crypto_failure(const Error& error, std::string_view action, crypto::FieldName field,
                                        std::string_view row_id) const {
    StorageErrc code = StorageErrc::unavailable;
    if (error == crypto::CryptoErrc::unknown_key) code = StorageErrc::key_unavailable;
    else if (error == crypto::CryptoErrc::authentication_failed || error == crypto::CryptoErrc::malformed_ciphertext ||
             error == crypto::CryptoErrc::unsupported_version)
        code = StorageErrc::corrupt;
    else if (error == crypto::CryptoErrc::invalid_argument) code = StorageErrc::invalid_argument;
    std::string detail(action);
    detail.append(" ").append(field.table).append(".").append(field.column).append(" of row '").append(row_id);
    detail.append("' in '").append(path_).append("' failed: ").append(error.message());
    return Error(code, std::move(detail));
}

template <class Bind>
Result<std::int64_t> SqliteStore::Impl::insert_with_sealed_phone(Sql insert, Sql seal_phone, crypto::FieldName field,
                                                                 const TenantId& tenant, const PhoneNumber& phone,
                                                                 std::string_view action, Bind&& bind_insert) {
    const std::string e164 = phone.e164();
    if (!encrypted_) {
        auto st = statement(insert);
        if (!st) return st.error();
        int rc = bind_insert(st->get(), Sealed{e164, {}, false});
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, action);
        return sqlite3_changes(db_) > 0 ? sqlite3_last_insert_rowid(db_) : std::int64_t{0};
    }
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    std::int64_t sequence = 0;
    {
        auto st = statement(insert);
        if (!st) return st.error();
        int rc = bind_insert(st->get(), Sealed{{}, {}, true});  // an empty BLOB until the sequence is known
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, action);
        if (sqlite3_changes(db_) == 0) return std::int64_t{0};
        sequence = sqlite3_last_insert_rowid(db_);
    }
    auto sealed = seal(tenant, field, std::to_string(sequence), e164);
    if (!sealed) return sealed.error();
    {
        auto st = statement(seal_phone);
        if (!st) return st.error();
        int rc = bind_all(st->get(), sequence, *sealed);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, action);
    }
    if (auto ok = tx.commit(); !ok) return ok.error();
    return sequence;
}

Result<Stmt> SqliteStore::Impl::statement(Sql q) const {
    sqlite3_stmt*& slot = statements_[static_cast<std::size_t>(q)];
    if (slot == nullptr) {
        sqlite3_stmt* raw = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql_text(q), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(raw);
            return failure(rc, "preparing a statement");
        }
        slot = raw;
    }
    return Stmt(slot);
}

Result<void> SqliteStore::Impl::run(Sql q, std::string_view action) const {
    auto st = statement(q);
    if (!st) return st.error();
    const int rc = sqlite3_step(st->get());
    if (rc != SQLITE_DONE) return failure(rc, action);
    return {};
}

// ---------------------------------------------------------------------------------------------
// Group commit

namespace {

/// A write's outcome once its group is done: its body's own failure first (rolled back alone),
/// then the group's, else what the body returned.
template <class T>
Result<T> settle(std::optional<Result<T>>& result, std::optional<Error>& error) {
    if (result && !*result) return std::move(*result);
    if (error) return std::move(*error);
    if (!result) return Error(StorageErrc::unavailable, "a write was not run");
    return std::move(*result);
}

/// Calls a completion of an asynchronous write (record_inbound_async, append_async); what it
/// throws is dropped (it may not stop the completions after it, nor the thread running them).
template <class Done, class Outcome>
void deliver(Done& done, Outcome outcome) noexcept {
    try {
        done(std::move(outcome));
    } catch (...) {
    }
}

}  // namespace

template <class T, class Body>
Result<T> SqliteStore::Impl::write(Body&& body) {
    if (auto ok = writable(); !ok) return ok.error();
    std::optional<Result<T>> result;
    auto run_body = [&]() -> bool {
        result.emplace(body());
        return result->has_value();
    };
    PendingWrite me;
    me.body = &run_body;
    me.run = [](void* f) { return (*static_cast<decltype(run_body)*>(f))(); };
    commit_with_others(me);
    return settle(result, me.error);
}

void SqliteStore::Impl::commit_with_others(PendingWrite& me) {
    std::unique_lock lock(queue_mutex_);
    queued_.push_back(&me);
    if (committing_) me.wake.wait(lock, [&] { return me.finished || me.lead; });
    if (me.finished) return;
    // Lead: commit everything queued so far, our own write included.
    committing_ = true;
    lead(lock, &me);
}

void SqliteStore::Impl::enqueue_detached(PendingWrite& write) {
    std::lock_guard lock(queue_mutex_);
    if (!committer_.joinable()) committer_ = std::thread([this] { committer_loop(); });
    queued_.push_back(&write);
    if (committing_) return;  // the group in flight hands over when it is done
    committing_ = true;
    committer_lead_ = true;
    committer_wake_.notify_one();
}

void SqliteStore::Impl::lead(std::unique_lock<std::mutex>& lock, const PendingWrite* me) {
    std::vector<PendingWrite*> group;
    group.swap(queued_);
    lock.unlock();
    commit_group(group);
    lock.lock();
    // Notified under the lock: a waiter may return (and its PendingWrite go) as soon as it has it,
    // so the writes nobody waits for are gathered first, in queue order, at the front of `group`.
    std::size_t detached = 0;
    for (PendingWrite* p : group) {
        if (p->complete != nullptr) {
            group[detached++] = p;
            continue;
        }
        p->finished = true;
        if (p != me) p->wake.notify_one();
    }
    if (detached != 0) {
        // Completions run before the next group is led, so they run one at a time and in queue
        // order; they must not block, so the next commit waits little (and gathers more writes).
        lock.unlock();
        for (std::size_t i = 0; i < detached; ++i) group[i]->complete(*group[i]);  // frees the write
        lock.lock();
    }
    hand_over();
}

void SqliteStore::Impl::hand_over() {
    if (queued_.empty()) {
        committing_ = false;
        if (stopping_) committer_wake_.notify_one();  // it may be waiting for the last group to end
    } else if (queued_.front()->complete == nullptr) {  // a waiter queued meanwhile leads the next group
        queued_.front()->lead = true;
        queued_.front()->wake.notify_one();
    } else {  // nobody waits for the first write: the committer leads
        committer_lead_ = true;
        committer_wake_.notify_one();
    }
}

void SqliteStore::Impl::committer_loop() {
    std::unique_lock lock(queue_mutex_);
    for (;;) {
        committer_wake_.wait(lock, [&] { return committer_lead_ || (stopping_ && !committing_); });
        if (!committer_lead_) return;  // stopping, and every write queued has been completed
        committer_lead_ = false;
        lead(lock, nullptr);
    }
}

void SqliteStore::Impl::stop_committer() noexcept {
    std::thread committer;
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
        committer = std::move(committer_);
    }
    committer_wake_.notify_one();
    if (committer.joinable()) committer.join();
}

void SqliteStore::Impl::commit_group(const std::vector<PendingWrite*>& group) noexcept {
    std::lock_guard lock(mutex_);
    auto fail_all = [&](const Error& error) noexcept {
        if (sqlite3_get_autocommit(db_) == 0) {
            if (auto st = statement(Sql::rollback)) sqlite3_step(st->get());
        }
        for (PendingWrite* p : group) {
            try {
                p->error = error;
            } catch (...) {  // copying the sentence failed: hand over the code alone
                p->error.emplace(error.code());
            }
        }
    };
    try {
        if (auto ok = run(Sql::begin_immediate, "starting a transaction"); !ok) return fail_all(ok.error());
        // A write alone in its group needs no savepoint: if it fails, the transaction is its own.
        const bool alone = group.size() == 1;
        for (PendingWrite* p : group) {
            const bool savepoint = !alone && !p->one_statement;
            if (savepoint)
                if (auto ok = run(Sql::savepoint_write, "starting a write"); !ok) return fail_all(ok.error());
            bool stored = false;
            try {
                stored = p->run(p->body);
            } catch (const std::bad_alloc&) {
                p->error.emplace(make_error_code(StorageErrc::unavailable));
            } catch (const std::exception& e) {
                p->error = exception_error(e.what());
            } catch (...) {
                p->error = exception_error("unknown exception");
            }
            // Some errors (disk full, I/O error) make SQLite roll the whole transaction back: the
            // writes before this one are gone too.
            if (sqlite3_get_autocommit(db_) != 0)
                return fail_all(Error(StorageErrc::unavailable,
                                      "a write in '" + path_ + "' failed and SQLite rolled its transaction back"));
            if (!stored && alone) {
                // Nothing to commit; the caller gets its body's own error (write() reads it first).
                if (auto ok = run(Sql::rollback, "rolling back a write"); !ok) fail_all(ok.error());
                return;
            }
            if (!stored && savepoint) {
                if (auto ok = run(Sql::rollback_to_write, "rolling back a write"); !ok) return fail_all(ok.error());
            }
            if (savepoint)
                if (auto ok = run(Sql::release_write, "ending a write"); !ok) return fail_all(ok.error());
        }
        if (auto ok = run(Sql::commit, "committing a transaction"); !ok) return fail_all(ok.error());
    } catch (...) {  // only allocation can throw here
        fail_all(Error(make_error_code(StorageErrc::unavailable)));
    }
}

Result<PhoneNumber> SqliteStore::Impl::column_phone(sqlite3_stmt* s, int i) const {
    const std::int64_t key = column_int(s, i);
    if (key <= 0) return corrupt_row("phone number");
    auto phone = PhoneNumber::from_key(static_cast<std::uint64_t>(key));
    if (!phone) return corrupt_row("phone number");
    return phone;
}

Result<Contact> SqliteStore::Impl::read_contact(sqlite3_stmt* s, const TenantId& tenant) const {
    const std::string id = column_text(s, 0);
    auto phone = read_phone(s, 1, 12, tenant, fields::contact_phone, id);
    if (!phone) return phone.error();
    auto name = unseal(s, 2, tenant, fields::contact_name, id);
    if (!name) return name.error();
    auto email = unseal(s, 3, tenant, fields::contact_email, id);
    if (!email) return email.error();
    std::optional<Timestamp> deleted_at;
    if (!column_is_null(s, 9)) deleted_at = column_time(s, 9);
    Contact c{tenant, ContactId{id}, std::move(phone).value()};
    c.name = std::move(name).value();
    c.email = std::move(email).value();
    c.source = column_text(s, 4);
    c.assignee = column_optional_id<UserId>(s, 5);
    c.team = column_text(s, 6);
    c.created_at = column_time(s, 7);
    c.updated_at = column_time(s, 8);
    c.deleted_at = deleted_at;
    c.legal_hold = column_int(s, 10) != 0;
    c.restricted = column_int(s, 11) != 0;
    c.analytics_objection = column_int(s, 13) != 0;
    return c;
}

Result<MessageRecord> SqliteStore::Impl::read_message(sqlite3_stmt* s, const TenantId& tenant,
                                                      const ContactId& contact) const {
    const auto direction = direction_from_string(column_text(s, 1));
    const auto status = message_status_from_string(column_text(s, 3));
    if (!direction || !status) return corrupt_row("message direction or status");
    MessageRecord m;
    m.tenant = tenant;
    m.id = MessageId{column_text(s, 0)};
    auto body = unseal(s, 2, tenant, fields::message_body, m.id.value());
    if (!body) return body.error();
    m.contact = contact;
    m.direction = *direction;
    m.body = std::move(body).value();
    m.status = *status;
    m.provider_message_id = column_text(s, 4);
    m.created_at = column_time(s, 5);
    m.updated_at = column_time(s, 6);
    return m;
}

Result<optout::OptOutEvent> SqliteStore::Impl::read_event(sqlite3_stmt* s, const TenantId& tenant) const {
    auto phone = read_phone(s, 1, 10, tenant, fields::optout_phone, std::to_string(column_int(s, 0)));
    if (!phone) return phone.error();
    const auto kind = optout::event_kind_from_string(column_text(s, 2));
    const auto scope = optout::scope_from_string(column_text(s, 3));
    const auto method = optout::method_from_string(column_text(s, 4));
    if (!kind || !scope || !method) return corrupt_row("opt-out event kind, scope or method");
    optout::OptOutEvent event(tenant, std::move(phone).value());
    event.kind = *kind;
    event.scope = *scope;
    event.method = *method;
    event.at = column_time(s, 5);
    event.trigger = column_text(s, 6);
    event.channel = column_text(s, 7);
    event.actor = column_optional_id<UserId>(s, 8);
    event.provider_message_id = column_text(s, 9);
    event.sequence = column_int(s, 0);
    return event;
}

Result<ConsentRecord> SqliteStore::Impl::read_consent(sqlite3_stmt* s, const TenantId& tenant) const {
    auto phone = read_phone(s, 1, 7, tenant, fields::consent_phone, std::to_string(column_int(s, 0)));
    if (!phone) return phone.error();
    const auto purpose = purpose_from_string(column_text(s, 2));
    if (!purpose) return corrupt_row("consent purpose");
    return ConsentRecord{
        .tenant = tenant,
        .phone = std::move(phone).value(),
        .purpose = *purpose,
        .granted = column_int(s, 3) != 0,
        .at = column_time(s, 4),
        .source = column_text(s, 5),
        .actor = column_optional_id<UserId>(s, 6),
    };
}

// ---------------------------------------------------------------------------------------------
// ContactStore

Result<void> SqliteStore::Impl::put(const Contact& c) {
    return guarded<void>([&]() -> Result<void> {
        if (c.tenant.empty() || c.id.empty()) return invalid("a contact needs a tenant and an id");
        // Encryption needs no lock; do it before taking one.
        auto ref = phone_ref(c.tenant, c.phone);
        if (!ref) return ref.error();
        const std::string e164 = c.phone.e164();
        auto phone = seal(c.tenant, fields::contact_phone, c.id.value(), e164);
        auto name = seal(c.tenant, fields::contact_name, c.id.value(), c.name);
        auto email = seal(c.tenant, fields::contact_email, c.id.value(), c.email);
        if (!phone) return phone.error();
        if (!name) return name.error();
        if (!email) return email.error();
        return write<void>([&]() -> Result<void> {
            auto st = statement(Sql::contact_upsert);
            if (!st) return st.error();
            int rc = bind_all(st->get(), c.tenant.value(), c.id.value(), *ref, *phone, *name, *email, c.source, optional_id(c.assignee), c.team, ms(c.created_at), ms(c.updated_at),
                              optional_ms(c.deleted_at), std::int64_t{c.legal_hold ? 1 : 0},
                              std::int64_t{c.restricted ? 1 : 0}, std::int64_t{c.analytics_objection ? 1 : 0});
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "storing a contact");
            return {};
        });
    });
}

Result<std::optional<Contact>> SqliteStore::Impl::get(const TenantId& tenant, const ContactId& id) const {
    return guarded<std::optional<Contact>>([&]() -> Result<std::optional<Contact>> {
        if (tenant.empty() || id.empty()) return invalid("reading a contact needs a tenant and an id");
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::contact_get);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), id.value());
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<Contact>{};
        if (rc != SQLITE_ROW) return failure(rc, "reading a contact");
        auto contact = read_contact(st->get(), tenant);
        if (!contact) return contact.error();
        return std::optional<Contact>{std::move(contact).value()};
    });
}

Result<std::optional<Contact>> SqliteStore::Impl::find_by_phone(const TenantId& tenant,
                                                                const PhoneNumber& phone) const {
    return guarded<std::optional<Contact>>([&]() -> Result<std::optional<Contact>> {
        if (tenant.empty()) return invalid("finding a contact needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::contact_find_live_by_phone);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<Contact>{};
        if (rc != SQLITE_ROW) return failure(rc, "finding a contact by phone number");
        auto contact = read_contact(st->get(), tenant);
        if (!contact) return contact.error();
        return std::optional<Contact>{std::move(contact).value()};
    });
}

Result<std::vector<Contact>> SqliteStore::Impl::list(const TenantId& tenant, const Page& page) const {
    return list_contacts(Sql::contact_list, tenant, page);
}

Result<std::vector<Contact>> SqliteStore::Impl::list_held(const TenantId& tenant, const Page& page) const {
    return list_contacts(Sql::contact_list_held, tenant, page);
}

Result<std::vector<Contact>> SqliteStore::Impl::list_contacts(Sql query, const TenantId& tenant,
                                                            const Page& page) const {
    return guarded<std::vector<Contact>>([&]() -> Result<std::vector<Contact>> {
        if (tenant.empty()) return invalid("listing contacts needs a tenant");
        std::lock_guard lock(mutex_);
        auto st = statement(query);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), page.after, clamp_limit(page.limit));
        std::vector<Contact> out;
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto contact = read_contact(st->get(), tenant);
            if (!contact) return contact.error();
            out.push_back(std::move(contact).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "listing contacts");
        return out;
    });
}

Result<bool> SqliteStore::Impl::soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("deleting a contact needs a tenant and an id");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        auto st = statement(Sql::contact_soft_delete);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), id.value(), ms(at));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, "soft-deleting a contact");
        return sqlite3_changes(db_) > 0;
    });
}

Result<bool> SqliteStore::Impl::hard_delete(const TenantId& tenant, const ContactId& id) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("deleting a contact needs a tenant and an id");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        // The contact row and, through ON DELETE CASCADE, its messages go in one transaction.
        Transaction tx(*this);
        if (auto ok = tx.begin(); !ok) return ok.error();
        bool existed = false;
        {
            auto st = statement(Sql::contact_hard_delete);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), id.value());
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "hard-deleting a contact and its messages");
            existed = sqlite3_changes(db_) > 0;
        }
        if (auto ok = tx.commit(); !ok) return ok.error();
        return existed;
    });
}

// ---------------------------------------------------------------------------------------------
// MessageStore

Result<bool> SqliteStore::Impl::append(const MessageRecord& m) {
    return guarded<bool>([&]() -> Result<bool> {
        if (m.tenant.empty() || m.id.empty() || m.contact.empty())
            return invalid("a message needs a tenant, an id and a contact");
        auto body = seal(m.tenant, fields::message_body, m.id.value(), m.body);
        if (!body) return body.error();
        return write<bool>([&]() -> Result<bool> {
            {
                auto st = statement(Sql::contact_exists);
                if (!st) return st.error();
                int rc = bind_all(st->get(), m.tenant.value(), m.contact.value());
                if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
                if (rc == SQLITE_DONE) return Error(StorageErrc::not_found, "the message's contact does not exist");
                if (rc != SQLITE_ROW) return failure(rc, "looking up the message's contact");
            }
            auto st = statement(Sql::message_insert);
            if (!st) return st.error();
            int rc = bind_all(st->get(), m.tenant.value(), m.id.value(), m.contact.value(), to_string(m.direction),
                              *body, to_string(m.status), m.provider_message_id, ms(m.created_at),
                              ms(m.updated_at));
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                return Error(StorageErrc::not_found, "the message's contact does not exist");
            if (rc != SQLITE_DONE) return failure(rc, "appending a message");
            return sqlite3_changes(db_) > 0;
        });
    });
}

Result<bool> SqliteStore::Impl::update_status(const TenantId& tenant, const MessageId& id, MessageStatus status,
                                              Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("updating a message needs a tenant and an id");
        return write<bool>([&]() -> Result<bool> {
            auto st = statement(Sql::message_update_status);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), id.value(), to_string(status), ms(at));
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "updating a message's status");
            return sqlite3_changes(db_) > 0;
        });
    });
}

Result<bool> SqliteStore::Impl::record_sent(const TenantId& tenant, const MessageId& id,
                                            std::string_view provider_message_id, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty() || provider_message_id.empty())
            return invalid("recording a send needs a tenant, an id and a provider message id");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        auto st = statement(Sql::message_record_sent);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), id.value(), provider_message_id, ms(at));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, "recording a message as sent");
        return sqlite3_changes(db_) > 0;
    });
}

Result<std::optional<MessageId>> SqliteStore::Impl::update_status_by_provider_id(
    const TenantId& tenant, std::string_view provider_message_id, MessageStatus status, Timestamp at) {
    return guarded<std::optional<MessageId>>([&]() -> Result<std::optional<MessageId>> {
        if (tenant.empty() || provider_message_id.empty())
            return invalid("a status update needs a tenant and a provider message id");
        // Read and compare-and-set in one write transaction, so another connection's update of
        // the same message cannot slip in between and be moved backwards.
        return write<std::optional<MessageId>>([&]() -> Result<std::optional<MessageId>> {
            std::string id;
            MessageStatus current{};
            {
                auto st = statement(Sql::message_find_by_provider_id);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), provider_message_id);
                if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
                if (rc == SQLITE_DONE) return std::optional<MessageId>{};
                if (rc != SQLITE_ROW) return failure(rc, "finding a message by its provider id");
                const auto stored = message_status_from_string(column_text(st->get(), 1));
                if (!stored) return corrupt_row("message status");
                id = column_text(st->get(), 0);
                current = *stored;
            }
            if (!status_advances(current, status)) return std::optional<MessageId>{};
            auto st = statement(Sql::message_advance_status);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), id, to_string(current), to_string(status), ms(at));
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "updating a message's status");
            if (sqlite3_changes(db_) == 0) return std::optional<MessageId>{};
            return std::optional<MessageId>{MessageId{std::move(id)}};
        });
    });
}

Result<std::vector<MessageRecord>> SqliteStore::Impl::list_for_contact(const TenantId& tenant,
                                                                       const ContactId& contact,
                                                                       std::size_t limit) const {
    return guarded<std::vector<MessageRecord>>([&]() -> Result<std::vector<MessageRecord>> {
        if (tenant.empty() || contact.empty()) return invalid("listing messages needs a tenant and a contact");
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::message_list_for_contact);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), contact.value(), clamp_limit(limit));
        std::vector<MessageRecord> out;
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto message = read_message(st->get(), tenant, contact);
            if (!message) return message.error();
            out.push_back(std::move(message).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "listing a contact's messages");
        return out;
    });
}

// ---------------------------------------------------------------------------------------------
// OptOutStore

Result<std::int64_t> SqliteStore::Impl::insert_event(const optout::OptOutEvent& e, const PhoneRef& ref) {
    return insert_with_sealed_phone(
        Sql::optout_insert, Sql::optout_seal_phone, fields::optout_phone, e.tenant, e.phone, "appending an opt-out event",
        [&](sqlite3_stmt* st, const Sealed& phone) {
            return bind_all(st, e.tenant.value(), ref, phone, to_string(e.kind), to_string(e.scope), to_string(e.method),
                            ms(e.at), e.trigger, e.channel, optional_id(e.actor), e.provider_message_id);
        });
}

Result<bool> SqliteStore::Impl::append(optout::OptOutEvent& e) {
    return guarded<bool>([&]() -> Result<bool> {
        if (e.tenant.empty()) return invalid("an opt-out event needs a tenant");
        auto ref = phone_ref(e.tenant, e.phone);
        if (!ref) return ref.error();
        auto sequence = write<std::int64_t>([&] { return insert_event(e, *ref); });
        if (!sequence) return sequence.error();
        if (*sequence == 0) return false;  // a redelivery of a known provider message id
        e.sequence = *sequence;
        return true;
    });
}

bool SqliteStore::Impl::append_async(const optout::OptOutEvent& event, AppendDone&& done) {
    // As record_inbound_async: the blind index is computed here, the write joins the group commit,
    // and `done` runs once its group is done.
    struct Job {
        optout::OptOutEvent event;
        PhoneRef ref;
        Impl* store;
        std::optional<Result<std::int64_t>> result;
        AppendDone done;
        PendingWrite pending;
    };
    std::unique_ptr<Job> job;
    auto queued = guarded<void>([&]() -> Result<void> {
        if (event.tenant.empty()) return invalid("an opt-out event needs a tenant");
        auto ref = phone_ref(event.tenant, event.phone);
        if (!ref) return ref.error();
        job.reset(new Job{event, std::move(ref).value(), this, std::nullopt, {}, {}});
        if (auto ok = writable(); !ok) return ok;  // where write() checks it
        job->pending.body = job.get();
        // Plaintext: one INSERT. Sealed: an INSERT, then the sealed number under the new sequence.
        job->pending.one_statement = !encrypted_;
        job->pending.run = [](void* body) {
            auto& j = *static_cast<Job*>(body);
            j.result.emplace(j.store->insert_event(j.event, j.ref));
            return j.result->has_value();
        };
        job->pending.complete = [](PendingWrite& self) noexcept {
            std::unique_ptr<Job> j(static_cast<Job*>(self.body));
            Result<std::int64_t> outcome = Error(make_error_code(StorageErrc::unavailable));
            try {
                outcome = settle(j->result, self.error);
            } catch (...) {  // copying the error's sentence failed: its code remains
            }
            deliver(j->done, std::move(outcome));
        };
        job->done = std::move(done);
        enqueue_detached(job->pending);  // throws if it cannot queue; then `done` is still in the job
        job.release();  // the queue owns it now
        return {};
    });
    if (!queued) {
        AppendDone callback = job && job->done ? std::move(job->done) : std::move(done);
        job.reset();
        deliver(callback, Result<std::int64_t>(queued.error()));
    }
    return true;
}

Result<std::vector<optout::OptOutEvent>> SqliteStore::Impl::history(const TenantId& tenant,
                                                                    const PhoneNumber& phone) const {
    return guarded<std::vector<optout::OptOutEvent>>([&]() -> Result<std::vector<optout::OptOutEvent>> {
        if (tenant.empty()) return invalid("reading opt-out history needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::optout_history);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref);
        std::vector<optout::OptOutEvent> out;
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto event = read_event(st->get(), tenant);
            if (!event) return event.error();
            out.push_back(std::move(event).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "reading opt-out history");
        return out;
    });
}

Result<void> SqliteStore::Impl::scan(const TenantId& tenant,
                                     const std::function<void(const optout::OptOutEvent&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning opt-out events needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<optout::OptOutEvent> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::optout_scan);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), after, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    auto event = read_event(st->get(), tenant);
                    if (!event) return event.error();
                    batch.push_back(std::move(event).value());
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning opt-out events");
            }
            for (const auto& event : batch) visit(event);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
            after = batch.back().sequence;
        }
    });
}

Result<void> SqliteStore::Impl::scan_since(
    const TenantId& tenant, std::int64_t after_sequence, const std::function<void(const optout::OptOutEvent&)>& visit,
    const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit || !visit_erased)
            return invalid("scanning opt-out events needs a tenant and two visitors");
        std::int64_t after = after_sequence;
        for (;;) {
            // One variant per row: an event under its number, or an erased one.
            std::vector<std::variant<optout::OptOutEvent, optout::ErasedOptOutEvent>> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::optout_scan_since);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), after, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    sqlite3_stmt* s = st->get();
                    after = column_int(s, 0);
                    if (sqlite3_column_type(s, 11) == SQLITE_NULL) {
                        auto event = read_event(s, tenant);
                        if (!event) return event.error();
                        batch.emplace_back(std::move(event).value());
                        continue;
                    }
                    const auto tag = column_tag(s, 11);
                    const auto kind = optout::event_kind_from_string(column_text(s, 2));
                    const auto scope = optout::scope_from_string(column_text(s, 3));
                    const auto method = optout::method_from_string(column_text(s, 4));
                    if (!tag || !kind || !scope || !method) return corrupt_row("erased opt-out event");
                    batch.emplace_back(optout::ErasedOptOutEvent{tenant, *tag, *kind, *scope, *method, column_time(s, 5),
                                                                 column_text(s, 6), column_text(s, 7), after});
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning opt-out events since a sequence");
            }
            for (const auto& row : batch) {
                if (const auto* e = std::get_if<optout::OptOutEvent>(&row)) visit(*e);
                else visit_erased(std::get<optout::ErasedOptOutEvent>(row));
            }
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

// ---------------------------------------------------------------------------------------------
// ConsentStore

Result<void> SqliteStore::Impl::append(const ConsentRecord& r) {
    return guarded<void>([&]() -> Result<void> {
        if (r.tenant.empty()) return invalid("a consent record needs a tenant");
        auto ref = phone_ref(r.tenant, r.phone);
        if (!ref) return ref.error();
        auto sequence = write<std::int64_t>([&] {
            return insert_with_sealed_phone(
                Sql::consent_insert, Sql::consent_seal_phone, fields::consent_phone, r.tenant, r.phone,
                "appending a consent record", [&](sqlite3_stmt* st, const Sealed& phone) {
                    return bind_all(st, r.tenant.value(), *ref, phone, to_string(r.purpose),
                                    std::int64_t{r.granted ? 1 : 0}, ms(r.at), r.source, optional_id(r.actor));
                });
        });
        if (!sequence) return sequence.error();
        return {};
    });
}

Result<std::optional<ConsentRecord>> SqliteStore::Impl::latest(const TenantId& tenant, const PhoneNumber& phone,
                                                               Purpose purpose) const {
    return guarded<std::optional<ConsentRecord>>([&]() -> Result<std::optional<ConsentRecord>> {
        if (tenant.empty()) return invalid("reading consent needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::consent_latest);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref, to_string(purpose));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<ConsentRecord>{};
        if (rc != SQLITE_ROW) return failure(rc, "reading the latest consent record");
        auto record = read_consent(st->get(), tenant);
        if (!record) return record.error();
        return std::optional<ConsentRecord>{std::move(record).value()};
    });
}

Result<void> SqliteStore::Impl::scan(const TenantId& tenant,
                                     const std::function<void(const ConsentRecord&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning consent records needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<ConsentRecord> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::consent_scan);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), after, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    after = column_int(st->get(), 0);
                    auto record = read_consent(st->get(), tenant);
                    if (!record) return record.error();
                    batch.push_back(std::move(record).value());
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning consent records");
            }
            for (const auto& record : batch) visit(record);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

// ---------------------------------------------------------------------------------------------
// ActivityStore

// One statement, and nothing after it that can fail: record_inbound_async's writes rely on it to
// run without a savepoint of their own (PendingWrite::one_statement).
Result<void> SqliteStore::Impl::upsert_inbound(const TenantId& tenant, const PhoneRef& ref, const Sealed& sealed,
                                               Timestamp at) const {
    auto st = statement(Sql::activity_upsert);
    if (!st) return st.error();
    int rc = bind_all(st->get(), tenant.value(), ref, sealed, ms(at));
    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
    if (rc != SQLITE_DONE) return failure(rc, "recording inbound activity");
    return {};
}

Result<void> SqliteStore::Impl::record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty()) return invalid("inbound activity needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        // The row is (tenant, phone_key): an encrypted number is bound to its tag.
        const std::string row_id = encrypted_ ? hex(std::get<Tag>(*ref)) : std::string();
        const std::string e164 = phone.e164();
        auto sealed = seal(tenant, fields::activity_phone, row_id, e164);
        if (!sealed) return sealed.error();
        return write<void>([&]() -> Result<void> { return upsert_inbound(tenant, *ref, *sealed, at); });
    });
}

namespace {

/// A record_inbound_async write: owns everything its body binds and the caller's completion.
/// Allocated by record_inbound_async, freed by its completion once its group is done.
struct InboundWrite {
    InboundWrite(const TenantId& t, PhoneRef r, std::string number, Timestamp when)
        : tenant(t), ref(std::move(r)), e164(std::move(number)), at(when) {}
    TenantId tenant;
    PhoneRef ref;
    std::string e164;
    Sealed sealed;  // its text views e164: the write is never moved
    Timestamp at;
    std::optional<Result<void>> result;
    ActivityStore::WriteDone done;
};

}  // namespace

bool SqliteStore::Impl::record_inbound_async(const TenantId& tenant, const PhoneNumber& phone, Timestamp at,
                                             WriteDone&& done) {
    // What record_inbound does before its write happens here, on the caller's thread: it is CPU
    // work (blind index, encryption) that many callers share instead of the one committer.
    struct Job {
        InboundWrite write;
        Impl* store;
        PendingWrite pending;
    };
    std::unique_ptr<Job> job;
    auto queued = guarded<void>([&]() -> Result<void> {
        if (tenant.empty()) return invalid("inbound activity needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        const std::string row_id = encrypted_ ? hex(std::get<Tag>(*ref)) : std::string();
        job.reset(new Job{InboundWrite(tenant, std::move(ref).value(), phone.e164(), at), this, {}});
        auto sealed = seal(tenant, fields::activity_phone, row_id, job->write.e164);
        if (!sealed) return sealed.error();
        job->write.sealed = std::move(sealed).value();
        if (auto ok = writable(); !ok) return ok;  // where write() checks it
        job->pending.body = job.get();
        job->pending.one_statement = true;  // the upsert
        job->pending.run = [](void* body) {
            auto& j = *static_cast<Job*>(body);
            j.write.result.emplace(j.store->upsert_inbound(j.write.tenant, j.write.ref, j.write.sealed, j.write.at));
            return j.write.result->has_value();
        };
        job->pending.complete = [](PendingWrite& self) noexcept {
            std::unique_ptr<Job> j(static_cast<Job*>(self.body));
            Result<void> outcome = Error(make_error_code(StorageErrc::unavailable));
            try {
                outcome = settle(j->write.result, self.error);
            } catch (...) {  // copying the error's sentence failed: its code remains
            }
            deliver(j->write.done, std::move(outcome));
        };
        job->write.done = std::move(done);
        enqueue_detached(job->pending);  // throws if it cannot queue; then `done` is still in the job
        job.release();  // the queue owns it now
        return {};
    });
    if (!queued) {
        WriteDone callback = job && job->write.done ? std::move(job->write.done) : std::move(done);
        job.reset();
        deliver(callback, std::move(queued));
    }
    return true;
}

Result<std::optional<Timestamp>> SqliteStore::Impl::last_inbound(const TenantId& tenant,
                                                                 const PhoneNumber& phone) const {
    return guarded<std::optional<Timestamp>>([&]() -> Result<std::optional<Timestamp>> {
        if (tenant.empty()) return invalid("reading inbound activity needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::activity_get);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<Timestamp>{};
        if (rc != SQLITE_ROW) return failure(rc, "reading inbound activity");
        return std::optional<Timestamp>{column_time(st->get(), 0)};
    });
}

Result<void> SqliteStore::Impl::scan(const TenantId& tenant,
                                     const std::function<void(const PhoneNumber&, Timestamp)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning inbound activity needs a tenant and a visitor");
        PhoneRef after = std::int64_t{0};  // before every number and every tag: SQLite orders integers before BLOBs
        for (;;) {
            std::vector<std::pair<PhoneNumber, Timestamp>> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::activity_scan);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), after, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    std::string row_id;
                    if (encrypted_) {
                        const auto tag = column_tag(st->get(), 0);
                        if (!tag) return corrupt_row("inbound activity's phone tag");
                        after = *tag;
                        row_id = hex(*tag);
                    } else {
                        after = column_int(st->get(), 0);
                    }
                    auto phone = read_phone(st->get(), 0, 2, tenant, fields::activity_phone, row_id);
                    if (!phone) return phone.error();
                    batch.emplace_back(std::move(phone).value(), column_time(st->get(), 1));
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning inbound activity");
            }
            for (const auto& [phone, at] : batch) visit(phone, at);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

// ---------------------------------------------------------------------------------------------
// DedupStore

Result<bool> SqliteStore::Impl::remember(const TenantId& tenant, std::string_view key, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || key.empty()) return invalid("a dedup key needs a tenant and a key");
        return write<bool>([&]() -> Result<bool> {
            auto st = statement(Sql::dedup_insert);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), key, ms(at));
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "remembering a webhook key");
            return sqlite3_changes(db_) > 0;
        });
    });
}

// ---------------------------------------------------------------------------------------------
// AuditStore

namespace {

/// A text column as it sits in the current row (NULL reads as ""), without a copy: valid until
/// the next step or reset. One call for the bytes, one for the length, no type check: reading a
/// column costs about as much as hashing it.
std::string_view column_view(sqlite3_stmt* s, int i) noexcept {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    if (p == nullptr) return {};
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))};
}

std::span<const std::uint8_t> column_bytes_view(sqlite3_stmt* s, int i) noexcept {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
    if (p == nullptr) return {};
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))};
}

}  // namespace

Result<audit::Entry> SqliteStore::Impl::read_audit_entry(sqlite3_stmt* s, const TenantId& tenant) const {
    audit::Entry e;
    e.tenant = tenant;
    e.sequence = column_int(s, 0);
    e.at = column_time(s, 1);
    const std::string role = column_text(s, 3);
    if (role != "system") {
        const auto parsed = rbac::role_from_string(role);
        if (!parsed || column_is_null(s, 2)) return corrupt_row("audit entry's actor");
        e.actor = audit::Actor::member(UserId{column_text(s, 2)}, *parsed);
    }
    e.action = column_text(s, 4);
    e.target_type = column_text(s, 5);
    e.target_id = column_text(s, 6);
    const auto outcome = reason_from_string(column_text(s, 7));
    if (!outcome) return corrupt_row("audit entry's outcome");
    e.outcome = *outcome;
    e.rule = column_text(s, 8);
    e.request_id = column_text(s, 9);
    e.policy_revision = column_text(s, 10);
    const auto prev = column_hash(s, 11);
    const auto hash = column_hash(s, 12);
    if (!prev || !hash) return corrupt_row("audit entry's hash");
    e.prev_hash = *prev;
    e.hash = *hash;
    return e;
}

Result<audit::ChainState> SqliteStore::Impl::read_chain(const TenantId& tenant) const {
    auto st = statement(Sql::audit_chain_get);
    if (!st) return st.error();
    int rc = bind_all(st->get(), tenant.value());
    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
    if (rc == SQLITE_DONE) return audit::ChainState{};
    if (rc != SQLITE_ROW) return failure(rc, "reading an audit chain");
    audit::ChainState state;
    const auto head = column_hash(st->get(), 1);
    const auto checkpoint = column_hash(st->get(), 3);
    if (!head || !checkpoint) return corrupt_row("audit chain");
    state.head = {column_int(st->get(), 0), *head};
    if (const std::int64_t through = column_int(st->get(), 2); through > 0)
        state.checkpoint = audit::Checkpoint{through, *checkpoint, column_time(st->get(), 4), column_int(st->get(), 5)};
    return state;
}

Result<void> SqliteStore::Impl::append(const TenantId& tenant, std::span<const audit::Entry> entries,
                                       const audit::ChainHead& expected) {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty()) return invalid("audit entries need a tenant");
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].tenant != tenant) return invalid("an audit entry belongs to another tenant");
            if (entries[i].sequence != expected.sequence + static_cast<std::int64_t>(i) + 1)
                return invalid("audit entry sequences must follow the head without a gap");
        }
        // In a group commit with the store's other writes (one sync for all), not a transaction
        // and a sync of its own: an audited send then costs the same disk work as any write.
        return write<void>([&]() -> Result<void> {
            Transaction tx(*this);
            if (auto ok = tx.begin(); !ok) return ok;
            auto current = read_chain(tenant);
            if (!current) return current.error();
            if (current->head != expected)
                return Error(StorageErrc::conflict, "the audit chain's head moved: another writer appended first");
            if (entries.empty()) return {};
            {
                auto st = statement(Sql::audit_insert);
                if (!st) return st.error();
                for (const audit::Entry& e : entries) {
                    const std::optional<std::string_view> user =
                        e.actor.is_system() ? std::nullopt : std::optional<std::string_view>(e.actor.user.value());
                    const std::string_view role = e.actor.role ? rbac::to_string(*e.actor.role) : "system";
                    int rc = bind_all(st->get(), tenant.value(), e.sequence, ms(e.at), user, role, e.action,
                                      e.target_type, e.target_id, to_string(e.outcome), e.rule, e.request_id,
                                      e.policy_revision, e.prev_hash, e.hash);
                    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
                    if (rc != SQLITE_DONE) return failure(rc, "appending an audit entry");
                    sqlite3_reset(st->get());
                }
            }
            {
                auto st = statement(Sql::audit_chain_set_head);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), entries.back().sequence, entries.back().hash);
                if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
                if (rc != SQLITE_DONE) return failure(rc, "moving an audit chain's head");
            }
            return tx.commit();
        });
    });
}

Result<audit::ChainState> SqliteStore::Impl::chain(const TenantId& tenant) const {
    return guarded<audit::ChainState>([&]() -> Result<audit::ChainState> {
        if (tenant.empty()) return invalid("reading an audit chain needs a tenant");
        std::lock_guard lock(mutex_);
        return read_chain(tenant);
    });
}

Result<std::vector<audit::Entry>> SqliteStore::Impl::query(const audit::Query& q) const {
    return guarded<std::vector<audit::Entry>>([&]() -> Result<std::vector<audit::Entry>> {
        if (q.tenant.empty()) return invalid("an audit query needs a tenant");
        const bool filtered = q.from || q.until || q.actor || q.action || q.target_type || q.target_id;
        // Each shape of query has its own constant statement, so the indexes serve it.
        Sql which = Sql::audit_read;
        if (q.target_type && q.target_id) which = Sql::audit_query_by_target;
        else if (q.actor) which = Sql::audit_query_by_actor;
        else if (filtered) which = Sql::audit_query;
        const std::optional<std::string_view> actor =
            q.actor ? std::optional<std::string_view>(q.actor->value()) : std::nullopt;
        std::lock_guard lock(mutex_);
        auto st = statement(which);
        if (!st) return st.error();
        int rc = bind_all(st->get(), q.tenant.value(), q.after_sequence, optional_ms(q.from), optional_ms(q.until),
                          actor, q.action, q.target_type, q.target_id, clamp_limit(q.limit));
        std::vector<audit::Entry> out;
        out.reserve(std::min<std::size_t>(q.limit, 4096));
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto entry = read_audit_entry(st->get(), q.tenant);
            if (!entry) return entry.error();
            out.push_back(std::move(entry).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "reading audit entries");
        return out;
    });
}

Result<std::size_t> SqliteStore::Impl::scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                                            const std::function<bool(const audit::EntryView&)>& visit) const {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        if (tenant.empty()) return invalid("an audit scan needs a tenant");
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::audit_read);
        if (!st) return st.error();
        sqlite3_stmt* s = st->get();
        int rc = bind_all(s, tenant.value(), after_sequence);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, clamp_limit(limit));  // audit_read's LIMIT is ?9
        if (rc != SQLITE_OK) return failure(rc, "reading audit entries");
        audit::EntryView v;
        v.tenant = tenant.value();
        std::size_t handed = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            v.sequence = sqlite3_column_int64(s, 0);
            v.at = from_unix_ms(sqlite3_column_int64(s, 1));
            v.actor_user = column_view(s, 2);
            v.actor_role = column_view(s, 3);
            v.action = column_view(s, 4);
            v.target_type = column_view(s, 5);
            v.target_id = column_view(s, 6);
            v.outcome = column_view(s, 7);
            v.rule = column_view(s, 8);
            v.request_id = column_view(s, 9);
            v.policy_revision = column_view(s, 10);
            v.prev_hash = column_bytes_view(s, 11);
            v.hash = column_bytes_view(s, 12);
            ++handed;
            if (!visit(v)) return handed;
        }
        if (rc != SQLITE_DONE) return failure(rc, "reading audit entries");
        return handed;
    });
}

Result<std::int64_t> SqliteStore::Impl::purge_through(const TenantId& tenant, std::int64_t through) {
    return guarded<std::int64_t>([&]() -> Result<std::int64_t> {
        if (tenant.empty()) return invalid("purging audit entries needs a tenant");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        Transaction tx(*this);
        if (auto ok = tx.begin(); !ok) return ok.error();
        audit::Checkpoint checkpoint;
        checkpoint.sequence = through;
        {
            auto st = statement(Sql::audit_entry_get);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), through);
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc == SQLITE_DONE)
                return Error(StorageErrc::not_found, "no audit entry " + std::to_string(through) + " to purge through");
            if (rc != SQLITE_ROW) return failure(rc, "reading the last audit entry to purge");
            const auto hash = column_hash(st->get(), 0);
            if (!hash) return corrupt_row("audit entry's hash");
            checkpoint.hash = *hash;
            checkpoint.at = column_time(st->get(), 1);
        }
        std::int64_t deleted = 0;
        {
            auto st = statement(Sql::audit_delete_through);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), through);
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "purging audit entries");
            deleted = sqlite3_changes64(db_);
        }
        {
            auto st = statement(Sql::audit_chain_set_checkpoint);
            if (!st) return st.error();
            int rc = bind_all(st->get(), tenant.value(), through, checkpoint.hash, ms(checkpoint.at), deleted);
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc != SQLITE_DONE) return failure(rc, "recording an audit purge checkpoint");
            if (sqlite3_changes(db_) == 0) return corrupt_row("audit chain");
        }
        if (auto ok = tx.commit(); !ok) return ok.error();
        return deleted;
    });
}

// ---------------------------------------------------------------------------------------------
// crypto::EncryptedFieldSource: the encrypted columns, for a re-encryption pass

Result<std::vector<SealedRow>> SqliteStore::Impl::sealed_rows(const SealedTable& table, const SealedCursor& from,
                                                              std::size_t limit) const {
    std::lock_guard lock(mutex_);
    auto st = statement(table.scan);
    if (!st) return st.error();
    sqlite3_stmt* s = st->get();
    int rc = SQLITE_OK;
    switch (table.key) {
        case RowKey::setting: break;
        case RowKey::text_id:
        case RowKey::sequence: rc = bind_all(s, from.rowid, clamp_limit(limit)); break;
        case RowKey::phone_tag: rc = bind_all(s, std::string_view(from.tenant), from.tag, clamp_limit(limit)); break;
    }
    std::vector<SealedRow> rows;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) break;
        SealedRow row;
        int first_value = 0;
        if (table.key == RowKey::setting) {
            row.tenant = store_tenant_id;
            row.row_id = key_check_setting;
        } else if (table.key == RowKey::phone_tag) {
            row.tenant = column_text(s, 0);
            const auto tag = column_tag(s, 1);
            if (!tag) return corrupt_row("inbound activity's phone tag");
            row.tag = *tag;
            row.row_id = hex(*tag);
            first_value = 2;
        } else {
            row.rowid = column_int(s, 0);
            row.tenant = column_text(s, 1);
            row.row_id = column_text(s, 2);
            first_value = 3;
        }
        for (std::size_t c = 0; c < table.width; ++c) {
            const int i = first_value + static_cast<int>(c);
            // A value that is not a BLOB is handed over as its bytes: decrypting it fails, and the
            // pass reports it instead of skipping it silently.
            const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
            const int n = sqlite3_column_bytes(s, i);
            if (p != nullptr && n > 0) row.values[c].assign(p, p + n);
        }
        rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return failure(rc, "scanning encrypted columns");
    return rows;
}

Result<std::vector<crypto::EncryptedField>> SqliteStore::Impl::next_batch(std::string_view cursor, std::size_t limit,
                                                                          crypto::KeyId primary) {
    return guarded<std::vector<crypto::EncryptedField>>([&]() -> Result<std::vector<crypto::EncryptedField>> {
        std::vector<crypto::EncryptedField> out;
        if (!encrypted_ || limit == 0) return out;
        std::optional<SealedCursor> after;  // the last field handed out before; none: from the start
        if (!cursor.empty()) {
            after = decode_cursor(cursor);
            if (!after) return invalid("not a cursor of this store's encrypted columns");
        }
        // Rows are read in chunks of at least two, so that a chunk that starts again at the cursor's
        // row always moves on.
        const std::size_t chunk = std::clamp<std::size_t>(limit, 16, 512);
        for (std::size_t t = after ? after->table : 0; t < sealed_tables.size(); ++t) {
            const SealedTable& table = sealed_tables[t];
            SealedCursor from;
            from.table = t;
            bool resume = false;  // whether the row at `from` has columns handed out already
            if (after && after->table == t) {
                from = *after;
                resume = true;
            }
            for (;;) {
                auto rows = sealed_rows(table, from, chunk);
                if (!rows) return rows.error();
                for (const SealedRow& row : *rows) {
                    const bool seen_row = resume && from.at(row, table.key);
                    for (std::size_t c = 0; c < table.width; ++c) {
                        if (seen_row && c <= from.column) continue;
                        const crypto::Bytes& value = row.values[c];
                        if (const auto id = crypto::FieldCipher::key_id(value); id && *id == primary) continue;
                        SealedCursor here;
                        here.table = t;
                        here.rowid = row.rowid;
                        here.tenant = row.tenant;
                        here.tag = row.tag;
                        here.column = c;
                        out.push_back({TenantId{row.tenant}, std::string(table.columns[c].field.table),
                                       std::string(table.columns[c].field.column), row.row_id, value,
                                       encode_cursor(here)});
                        if (out.size() == limit) return out;
                    }
                }
                if (rows->size() < chunk) break;
                // Go on from the last row read, every column of which is done.
                const SealedRow& last = rows->back();
                from.rowid = last.rowid;
                from.tenant = last.tenant;
                from.tag = last.tag;
                from.column = table.width;
                resume = true;
            }
        }
        return out;
    });
}

Result<bool> SqliteStore::Impl::replace(const crypto::EncryptedField& field, const crypto::Bytes& replacement) {
    return guarded<bool>([&]() -> Result<bool> {
        const SealedTable* table = nullptr;
        const SealedColumn* column = nullptr;
        for (const SealedTable& t : sealed_tables)
            for (std::size_t c = 0; c < t.width; ++c)
                if (t.columns[c].field.table == field.table && t.columns[c].field.column == field.column) {
                    table = &t;
                    column = &t.columns[c];
                }
        if (table == nullptr || field.tenant.empty()) return invalid("not an encrypted column of this store");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        auto st = statement(column->replace);
        if (!st) return st.error();
        sqlite3_stmt* s = st->get();
        int rc = SQLITE_OK;
        switch (table->key) {
            case RowKey::setting: rc = bind_all(s, field.ciphertext, replacement); break;
            case RowKey::text_id:
                rc = bind_all(s, field.tenant.value(), std::string_view(field.row_id), field.ciphertext, replacement);
                break;
            case RowKey::sequence: {
                const auto sequence = parse_number<std::int64_t>(field.row_id);
                if (!sequence) return invalid("not a row of this store's encrypted columns");
                rc = bind_all(s, field.tenant.value(), *sequence, field.ciphertext, replacement);
                break;
            }
            case RowKey::phone_tag: {
                const auto tag = tag_from_hex(field.row_id);
                if (!tag) return invalid("not a row of this store's encrypted columns");
                rc = bind_all(s, field.tenant.value(), *tag, field.ciphertext, replacement);
                break;
            }
        }
        if (rc == SQLITE_OK) rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) return failure(rc, "replacing an encrypted value");
        return sqlite3_changes(db_) > 0;
    });
}

// -------------------------------------------------------------------------------------------------
// SqliteStore

// ---------------------------------------------------------------------------------------------
// privacy (data-subject rights, schema v5): message scan, erasure of a number, request register

Result<void> SqliteStore::Impl::scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                                 const std::function<void(const MessageRecord&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || contact.empty() || !visit)
            return invalid("scanning messages needs a tenant, a contact and a visitor");
        std::int64_t after_ms = std::numeric_limits<std::int64_t>::min();
        std::int64_t after_rowid = std::numeric_limits<std::int64_t>::min();
        for (;;) {
            std::vector<MessageRecord> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::message_scan_for_contact);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), contact.value(), after_ms, after_rowid, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    auto message = read_message(st->get(), tenant, contact);
                    if (!message) return message.error();
                    after_ms = column_int(st->get(), 5);
                    after_rowid = column_int(st->get(), 7);
                    batch.push_back(std::move(message).value());
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning a contact's messages");
            }
            for (const auto& m : batch) visit(m);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

Result<std::size_t> SqliteStore::Impl::change_by_phone(Sql q, const TenantId& tenant, const PhoneNumber& phone,
                                                       std::string_view action) {
    if (tenant.empty()) return invalid("erasing a number needs a tenant");
    auto ref = phone_ref(tenant, phone);
    if (!ref) return ref.error();
    std::lock_guard lock(mutex_);
    if (auto ok = writable(); !ok) return ok.error();
    auto st = statement(q);
    if (!st) return st.error();
    int rc = bind_all(st->get(), tenant.value(), *ref);
    if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
    if (rc != SQLITE_DONE) return failure(rc, action);
    return static_cast<std::size_t>(sqlite3_changes(db_));
}

Result<std::size_t> SqliteStore::Impl::erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                                    const optout::NumberTag& tag) {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        if (tenant.empty()) return invalid("erasing a number needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok.error();
        auto st = statement(Sql::optout_erase_number);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref, std::span<const std::uint8_t>(tag));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, "erasing the number of opt-out events");
        return static_cast<std::size_t>(sqlite3_changes(db_));
    });
}

Result<void> SqliteStore::Impl::scan_erased(const TenantId& tenant,
                                            const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning erased opt-out events needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<optout::ErasedOptOutEvent> batch;
            {
                std::lock_guard lock(mutex_);
                auto st = statement(Sql::optout_scan_erased);
                if (!st) return st.error();
                int rc = bind_all(st->get(), tenant.value(), after, scan_batch);
                while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                    rc = sqlite3_step(st->get());
                    if (rc != SQLITE_ROW) break;
                    sqlite3_stmt* s = st->get();
                    const auto tag = column_tag(s, 1);
                    const auto kind = optout::event_kind_from_string(column_text(s, 2));
                    const auto scope = optout::scope_from_string(column_text(s, 3));
                    const auto method = optout::method_from_string(column_text(s, 4));
                    if (!tag || !kind || !scope || !method) return corrupt_row("erased opt-out event");
                    optout::ErasedOptOutEvent e{tenant, *tag, *kind, *scope, *method, column_time(s, 5),
                                                column_text(s, 6), column_text(s, 7), column_int(s, 0)};
                    after = e.sequence;
                    batch.push_back(std::move(e));
                }
                if (rc != SQLITE_DONE) return failure(rc, "scanning erased opt-out events");
            }
            for (const auto& e : batch) visit(e);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

Result<std::vector<ConsentRecord>> SqliteStore::Impl::records(const TenantId& tenant, const PhoneNumber& phone) const {
    return guarded<std::vector<ConsentRecord>>([&]() -> Result<std::vector<ConsentRecord>> {
        if (tenant.empty()) return invalid("reading consent records needs a tenant");
        auto ref = phone_ref(tenant, phone);
        if (!ref) return ref.error();
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::consent_records_for_phone);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), *ref);
        std::vector<ConsentRecord> out;
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto record = read_consent(st->get(), tenant);
            if (!record) return record.error();
            out.push_back(std::move(record).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "reading a number's consent records");
        return out;
    });
}

Result<std::size_t> SqliteStore::Impl::erase_number(const TenantId& tenant, const PhoneNumber& phone) {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        return change_by_phone(Sql::consent_erase_number, tenant, phone, "erasing a number's consent records");
    });
}

Result<bool> SqliteStore::Impl::forget(const TenantId& tenant, const PhoneNumber& phone) {
    return guarded<bool>([&]() -> Result<bool> {
        auto changed = change_by_phone(Sql::activity_forget, tenant, phone, "forgetting a number's inbound activity");
        if (!changed) return changed.error();
        return *changed > 0;
    });
}

Result<privacy::SubjectRequest> SqliteStore::Impl::read_request(sqlite3_stmt* s, const TenantId& tenant) const {
    const auto type = privacy::request_type_from_string(column_text(s, 1));
    const auto status = privacy::request_status_from_string(column_text(s, 7));
    if (!type || !status) return corrupt_row("data-subject request's type or status");
    privacy::SubjectRequest r;
    r.tenant = tenant;
    r.id = column_text(s, 0);
    r.type = *type;
    r.subject = column_text(s, 2);
    r.received_at = column_time(s, 3);
    r.acknowledge_by = column_time(s, 4);
    r.due_by = column_time(s, 5);
    r.extended = column_int(s, 6) != 0;
    r.status = *status;
    r.handled_by = column_optional_id<UserId>(s, 8);
    if (!column_is_null(s, 9)) r.acknowledged_at = column_time(s, 9);
    if (!column_is_null(s, 10)) r.closed_at = column_time(s, 10);
    return r;
}

Result<void> SqliteStore::Impl::put(const privacy::SubjectRequest& r) {
    return guarded<void>([&]() -> Result<void> {
        if (r.tenant.empty() || r.id.empty()) return invalid("a data-subject request needs a tenant and an id");
        std::lock_guard lock(mutex_);
        if (auto ok = writable(); !ok) return ok;
        auto st = statement(Sql::request_upsert);
        if (!st) return st.error();
        int rc = bind_all(st->get(), r.tenant.value(), std::string_view(r.id), privacy::to_string(r.type),
                          std::string_view(r.subject), ms(r.received_at), ms(r.acknowledge_by), ms(r.due_by),
                          std::int64_t{r.extended ? 1 : 0}, privacy::to_string(r.status), optional_id(r.handled_by),
                          optional_ms(r.acknowledged_at), optional_ms(r.closed_at));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, "storing a data-subject request");
        return {};
    });
}

Result<std::optional<privacy::SubjectRequest>> SqliteStore::Impl::get(const TenantId& tenant,
                                                                      std::string_view id) const {
    return guarded<std::optional<privacy::SubjectRequest>>([&]() -> Result<std::optional<privacy::SubjectRequest>> {
        if (tenant.empty() || id.empty()) return invalid("reading a data-subject request needs a tenant and an id");
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::request_get);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), id);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<privacy::SubjectRequest>{};
        if (rc != SQLITE_ROW) return failure(rc, "reading a data-subject request");
        auto request = read_request(st->get(), tenant);
        if (!request) return request.error();
        return std::optional<privacy::SubjectRequest>{std::move(request).value()};
    });
}

Result<std::vector<privacy::SubjectRequest>> SqliteStore::Impl::list(const TenantId& tenant, const Page& page,
                                                                     bool open_only) const {
    return guarded<std::vector<privacy::SubjectRequest>>([&]() -> Result<std::vector<privacy::SubjectRequest>> {
        if (tenant.empty()) return invalid("listing data-subject requests needs a tenant");
        std::lock_guard lock(mutex_);
        auto st = statement(Sql::request_list);
        if (!st) return st.error();
        int rc = bind_all(st->get(), tenant.value(), page.after, clamp_limit(page.limit),
                          std::int64_t{open_only ? 1 : 0});
        std::vector<privacy::SubjectRequest> out;
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st->get());
            if (rc != SQLITE_ROW) break;
            auto request = read_request(st->get(), tenant);
            if (!request) return request.error();
            out.push_back(std::move(request).value());
        }
        if (rc != SQLITE_DONE) return failure(rc, "listing data-subject requests");
        return out;
    });
}

Result<void> SqliteStore::Impl::scrub() {
    return guarded<void>([&]() -> Result<void> {
        std::lock_guard lock(mutex_);
        if (read_only_) return {};
        // Returns (busy, log frames, checkpointed frames); busy = 1 means a reader kept it from
        // finishing, and the log still holds what it held.
        const auto answer = query_one(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
        if (answer.rc != SQLITE_OK) return failure(answer.rc, "checkpointing and truncating the write-ahead log");
        if (answer.number != 0)
            return Error(StorageErrc::unavailable, "the write-ahead log of '" + path_ +
                                                       "' could not be truncated: another connection is reading it");
        return {};
    });
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, SqliteOptions options) {
    return guarded<std::unique_ptr<SqliteStore>>([&]() -> Result<std::unique_ptr<SqliteStore>> {
        auto impl = Impl::open(path, options);
        if (!impl) return impl.error();
        return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl).value()));
    });
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), retention_(detail::make_sqlite_retention(impl_->retention_handle(), *this)) {}
SqliteStore::~SqliteStore() = default;

ContactStore& SqliteStore::contacts() { return *impl_; }
MessageStore& SqliteStore::messages() { return *impl_; }
OptOutStore& SqliteStore::optouts() { return *impl_; }
ConsentStore& SqliteStore::consents() { return *impl_; }
ActivityStore& SqliteStore::activity() { return *impl_; }
DedupStore& SqliteStore::dedup() { return *impl_; }
AuditStore& SqliteStore::audit() { return *impl_; }
RequestStore& SqliteStore::requests() { return *impl_; }
Result<void> SqliteStore::scrub() { return impl_->scrub(); }
bool SqliteStore::encrypted() const noexcept { return impl_->encrypted(); }
crypto::EncryptedFieldSource& SqliteStore::encrypted_fields() { return *impl_; }
retention::RetentionStores& SqliteStore::retention() noexcept { return *retention_; }
AccountStore* SqliteStore::accounts() noexcept { return &retention_->accounts(); }

}  // namespace heroshhi::storage
