// heroshhi — PostgresStore: every storage port over one PostgreSQL database.
//
// Rules this file keeps (and tests/unit-postgres.cpp checks):
// - every SQL text is a constant; values only ever reach PostgreSQL as statement parameters;
// - nothing is written before the schema is known to be ours and not newer than this build;
// - every write of more than one row (or that reads before it writes) runs in one transaction,
//   or is one statement;
// - no exception leaves a port method;
// - in an encrypted store no sensitive value (phone number, name, email, message body) reaches
//   PostgreSQL except as a FieldCipher ciphertext or a blind-index tag.
#include <heroshhi/storage/postgres_store.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/field_cipher.hpp>
#include <heroshhi/storage/errors.hpp>

#include "pg_connection.hpp"
#include "pg_retention.hpp"
#include "pg_schema.hpp"
#include "../detail/guarded.hpp"

namespace heroshhi::storage {
namespace {

using detail::exception_error;
using detail::guarded;
using detail::hex;

using pg::Lease;
using pg::Params;
using pg::Rows;
using Tag = crypto::BlindIndex::Tag;

/// Rows read per round trip in a scan: the visitor runs with no connection held, so it may call
/// back into the store.
constexpr std::int64_t scan_batch = 256;
/// Compare-and-swap attempts of a status update racing other writers of the same message.
constexpr int status_update_attempts = 16;

// ---------------------------------------------------------------------------------------------
// SQL: every statement the ports run (prepared once per connection on first use)

namespace sql {
// Announces on channel heroshhi_facts (PostgresChangeFeed) when the write changes whether the
// contact's number is restricted, in the write's own statement: ordinary contact writes (inbound
// traffic makes many) announce nothing. `old` locks and reads the row as it was before this
// statement (FOR UPDATE: the latest committed version, so a concurrent write is never compared
// with a stale one and a restriction is never left unannounced). The inserted row's tenant is
// read through `old` so that `old` is read, and locked, before the row is written.
constexpr const char* contact_upsert =
    "WITH old AS MATERIALIZED (SELECT restricted AND deleted_at_ms IS NULL AS blocked, phone_key FROM contacts"
    " WHERE tenant = $1 AND id = $2 FOR UPDATE),"
    " written AS (INSERT INTO contacts (tenant, id, phone_key, phone_e164, name, email, source, assignee, team, created_at_ms,"
    " updated_at_ms, deleted_at_ms, legal_hold, restricted, analytics_objection)"
    " VALUES ((SELECT $1 FROM (SELECT count(*) FROM old) AS locked), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    " ON CONFLICT (tenant, id) DO UPDATE SET phone_key = excluded.phone_key, phone_e164 = excluded.phone_e164,"
    " name = excluded.name, email = excluded.email, source = excluded.source, assignee = excluded.assignee,"
    " team = excluded.team, created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,"
    " deleted_at_ms = excluded.deleted_at_ms, legal_hold = excluded.legal_hold, restricted = excluded.restricted,"
    " analytics_objection = excluded.analytics_objection"
    " RETURNING restricted AND deleted_at_ms IS NULL AS blocked, phone_key)"
    " SELECT pg_notify('heroshhi_facts', $1) FROM written LEFT JOIN old ON true"
    " WHERE written.blocked IS DISTINCT FROM coalesce(old.blocked, false)"
    " OR (written.blocked AND written.phone_key IS DISTINCT FROM old.phone_key)";
constexpr const char* contact_get =
    "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms, deleted_at_ms,"
    " legal_hold, restricted, phone_e164, analytics_objection FROM contacts WHERE tenant = $1 AND id = $2";
constexpr const char* contact_find_live_by_phone =
    "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms, deleted_at_ms,"
    " legal_hold, restricted, phone_e164, analytics_objection FROM contacts"
    " WHERE tenant = $1 AND phone_key = $2 AND deleted_at_ms IS NULL ORDER BY id LIMIT 1";
constexpr const char* contact_list =
    "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms, deleted_at_ms,"
    " legal_hold, restricted, phone_e164, analytics_objection FROM contacts"
    " WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3";
constexpr const char* contact_list_held =  // contacts_held_by_phone holds exactly these rows
    "SELECT id, phone_key, name, email, source, assignee, team, created_at_ms, updated_at_ms, deleted_at_ms,"
    " legal_hold, restricted, phone_e164, analytics_objection FROM contacts"
    " WHERE tenant = $1 AND legal_hold AND id > $2 ORDER BY id LIMIT $3";
constexpr const char* contact_soft_delete =
    "UPDATE contacts SET deleted_at_ms = $3 WHERE tenant = $1 AND id = $2 AND deleted_at_ms IS NULL";
// Its messages go with it in the same statement (ON DELETE CASCADE).
constexpr const char* contact_hard_delete = "DELETE FROM contacts WHERE tenant = $1 AND id = $2";

constexpr const char* message_insert =
    "INSERT INTO messages (tenant, id, contact_id, direction, body, status, provider_message_id, created_at_ms,"
    " updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant, id) DO NOTHING";
constexpr const char* message_update_status =
    "UPDATE messages SET status = $3, updated_at_ms = $4 WHERE tenant = $1 AND id = $2";
// One statement: keep the first provider id; move queued to sent only.
constexpr const char* message_record_sent =
    "UPDATE messages SET provider_message_id = CASE WHEN provider_message_id = '' THEN $3::text"
    " ELSE provider_message_id END,"
    " status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,"
    " updated_at_ms = CASE WHEN status = 'queued' THEN $4::bigint ELSE updated_at_ms END"
    " WHERE tenant = $1 AND id = $2";
constexpr const char* message_find_by_provider_id =
    "SELECT id, status FROM messages WHERE tenant = $1 AND provider_message_id = $2 AND provider_message_id <> ''"
    " ORDER BY seq LIMIT 1";
constexpr const char* message_advance_status =
    "UPDATE messages SET status = $4, updated_at_ms = $5 WHERE tenant = $1 AND id = $2 AND status = $3";
constexpr const char* message_list_for_contact =
    "SELECT id, direction, body, status, provider_message_id, created_at_ms, updated_at_ms, seq FROM messages"
    " WHERE tenant = $1 AND contact_id = $2 ORDER BY created_at_ms, seq LIMIT $3";
constexpr const char* message_scan_for_contact =
    "SELECT id, direction, body, status, provider_message_id, created_at_ms, updated_at_ms, seq FROM messages"
    " WHERE tenant = $1 AND contact_id = $2 AND (created_at_ms, seq) > ($3::bigint, $4::bigint)"
    " ORDER BY created_at_ms, seq LIMIT $5";

// An append locks the tenant's counter row (inserting it at 0 the first time) and reads it; the
// event takes the next number and moves the counter in one statement, which also notifies the
// other instances. A redelivered provider message id inserts nothing, so moves nothing.
constexpr const char* optout_lock_sequence =
    "INSERT INTO optout_sequences (tenant, last_sequence) VALUES ($1, 0) ON CONFLICT (tenant)"
    " DO UPDATE SET last_sequence = optout_sequences.last_sequence RETURNING last_sequence";
constexpr const char* optout_insert =
    "WITH inserted AS (INSERT INTO optout_events (tenant, sequence, phone_key, phone_e164, kind, scope, method,"
    " at_ms, trigger_text, channel, actor, provider_message_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING sequence),"
    " moved AS (UPDATE optout_sequences SET last_sequence = inserted.sequence FROM inserted"
    " WHERE optout_sequences.tenant = $1 RETURNING inserted.sequence)"
    " SELECT sequence, pg_notify('heroshhi_optout', $1) FROM moved";
constexpr const char* optout_history =
    "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor, provider_message_id,"
    " phone_e164 FROM optout_events WHERE tenant = $1 AND phone_key = $2 AND erased_tag IS NULL ORDER BY sequence";
constexpr const char* optout_scan =
    "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor, provider_message_id,"
    " phone_e164 FROM optout_events WHERE tenant = $1 AND sequence > $2 AND erased_tag IS NULL"
    " ORDER BY sequence LIMIT $3";
// What survives: kind, scope, method, time, channel, sequence and the keyword (a manual or API
// event's trigger is a team member's free text, and goes).
constexpr const char* optout_erase_number =
    "UPDATE optout_events SET erased_tag = $3, phone_key = ''::bytea, phone_e164 = ''::bytea, actor = NULL,"
    " provider_message_id = '',"
    " trigger_text = CASE WHEN method IN ('manual', 'api') THEN '' ELSE trigger_text END"
    " WHERE tenant = $1 AND phone_key = $2 AND erased_tag IS NULL";
// Both kinds of row, for a reader that shares the database (Engine::catch_up; h-multi).
constexpr const char* optout_scan_since =
    "SELECT sequence, phone_key, kind, scope, method, at_ms, trigger_text, channel, actor, provider_message_id,"
    " phone_e164, erased_tag FROM optout_events WHERE tenant = $1 AND sequence > $2 ORDER BY sequence LIMIT $3";
constexpr const char* optout_scan_erased =
    "SELECT sequence, erased_tag, kind, scope, method, at_ms, trigger_text, channel FROM optout_events"
    " WHERE tenant = $1 AND erased_tag IS NOT NULL AND sequence > $2 ORDER BY sequence LIMIT $3";

constexpr const char* consent_next_sequence =
    "SELECT nextval(pg_get_serial_sequence('heroshhi.consent_records', 'sequence'))";
// Both announce the record on channel heroshhi_facts (PostgresChangeFeed), in its transaction.
constexpr const char* consent_insert =
    "WITH inserted AS (INSERT INTO consent_records (tenant, sequence, phone_key, phone_e164, purpose, granted,"
    " at_ms, source, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING tenant)"
    " SELECT pg_notify('heroshhi_facts', $1) FROM inserted";
constexpr const char* consent_insert_plain =
    "WITH inserted AS (INSERT INTO consent_records (tenant, phone_key, phone_e164, purpose, granted, at_ms, source,"
    " actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING tenant)"
    " SELECT pg_notify('heroshhi_facts', $1) FROM inserted";
constexpr const char* consent_latest =
    "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
    " WHERE tenant = $1 AND phone_key = $2 AND purpose = $3 ORDER BY sequence DESC LIMIT 1";
constexpr const char* consent_scan =
    "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
    " WHERE tenant = $1 AND sequence > $2 ORDER BY sequence LIMIT $3";
constexpr const char* consent_records_for_phone =
    "SELECT sequence, phone_key, purpose, granted, at_ms, source, actor, phone_e164 FROM consent_records"
    " WHERE tenant = $1 AND phone_key = $2 ORDER BY sequence";
constexpr const char* consent_erase_number = "DELETE FROM consent_records WHERE tenant = $1 AND phone_key = $2";

constexpr const char* activity_upsert =
    "INSERT INTO inbound_activity (tenant, phone_key, phone_e164, last_inbound_ms) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (tenant, phone_key)"
    " DO UPDATE SET last_inbound_ms = GREATEST(inbound_activity.last_inbound_ms, excluded.last_inbound_ms)";
constexpr const char* activity_get =
    "SELECT last_inbound_ms FROM inbound_activity WHERE tenant = $1 AND phone_key = $2";
constexpr const char* activity_scan =
    "SELECT phone_key, last_inbound_ms, phone_e164 FROM inbound_activity WHERE tenant = $1 AND phone_key > $2"
    " ORDER BY phone_key LIMIT $3";
constexpr const char* activity_forget = "DELETE FROM inbound_activity WHERE tenant = $1 AND phone_key = $2";

constexpr const char* dedup_insert =
    "INSERT INTO dedup_keys (tenant, dedup_key, seen_at_ms) VALUES ($1, $2, $3)"
    " ON CONFLICT (tenant, dedup_key) DO NOTHING";

constexpr const char* settings_get = "SELECT value FROM store_settings WHERE name = $1";
constexpr const char* settings_insert =
    "INSERT INTO store_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

constexpr const char* audit_chain_get =
    "SELECT head_sequence, head_hash, checkpoint_sequence, checkpoint_hash, checkpoint_at_ms, purged"
    " FROM audit_chains WHERE tenant = $1";
constexpr const char* audit_chain_lock =
    "SELECT head_sequence, head_hash, checkpoint_sequence, checkpoint_hash, checkpoint_at_ms, purged"
    " FROM audit_chains WHERE tenant = $1 FOR UPDATE";
constexpr const char* audit_chain_set_head =
    "INSERT INTO audit_chains (tenant, head_sequence, head_hash, checkpoint_sequence, checkpoint_hash,"
    " checkpoint_at_ms, purged) VALUES ($1, $2, $3, 0, decode(repeat('00', 32), 'hex'), 0, 0)"
    " ON CONFLICT (tenant) DO UPDATE SET head_sequence = excluded.head_sequence, head_hash = excluded.head_hash";
constexpr const char* audit_chain_set_checkpoint =
    "UPDATE audit_chains SET checkpoint_sequence = $2, checkpoint_hash = $3, checkpoint_at_ms = $4,"
    " purged = purged + $5 WHERE tenant = $1";
constexpr const char* audit_insert =
    "INSERT INTO audit_entries (tenant, sequence, at_ms, actor_user, actor_role, action, target_type, target_id,"
    " outcome, rule, request_id, policy_revision, prev_hash, hash)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
constexpr const char* audit_read =
    "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule, request_id,"
    " policy_revision, prev_hash, hash FROM audit_entries WHERE tenant = $1 AND sequence > $2"
    " ORDER BY sequence LIMIT $3";
constexpr const char* audit_query =
    "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule, request_id,"
    " policy_revision, prev_hash, hash FROM audit_entries"
    " WHERE tenant = $1 AND sequence > $2 AND ($3::bigint IS NULL OR at_ms >= $3::bigint)"
    " AND ($4::bigint IS NULL OR at_ms < $4::bigint) AND ($5::bytea IS NULL OR actor_user = $5::bytea)"
    " AND ($6::bytea IS NULL OR action = $6::bytea) AND ($7::bytea IS NULL OR target_type = $7::bytea)"
    " AND ($8::bytea IS NULL OR target_id = $8::bytea) ORDER BY sequence LIMIT $9";
constexpr const char* audit_query_by_actor =
    "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule, request_id,"
    " policy_revision, prev_hash, hash FROM audit_entries"
    " WHERE tenant = $1 AND actor_user = $5::bytea AND sequence > $2"
    " AND ($3::bigint IS NULL OR at_ms >= $3::bigint) AND ($4::bigint IS NULL OR at_ms < $4::bigint)"
    " AND ($6::bytea IS NULL OR action = $6::bytea) AND ($7::bytea IS NULL OR target_type = $7::bytea)"
    " AND ($8::bytea IS NULL OR target_id = $8::bytea) ORDER BY sequence LIMIT $9";
constexpr const char* audit_query_by_target =
    "SELECT sequence, at_ms, actor_user, actor_role, action, target_type, target_id, outcome, rule, request_id,"
    " policy_revision, prev_hash, hash FROM audit_entries"
    " WHERE tenant = $1 AND target_type = $7::bytea AND target_id = $8::bytea AND sequence > $2"
    " AND ($3::bigint IS NULL OR at_ms >= $3::bigint) AND ($4::bigint IS NULL OR at_ms < $4::bigint)"
    " AND ($5::bytea IS NULL OR actor_user = $5::bytea) AND ($6::bytea IS NULL OR action = $6::bytea)"
    " ORDER BY sequence LIMIT $9";
constexpr const char* audit_entry_get = "SELECT hash, at_ms FROM audit_entries WHERE tenant = $1 AND sequence = $2";
constexpr const char* audit_delete_through = "DELETE FROM audit_entries WHERE tenant = $1 AND sequence <= $2";

constexpr const char* request_upsert =
    "INSERT INTO subject_requests (tenant, id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms,"
    " extended, status, handled_by, acknowledged_at_ms, closed_at_ms)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    " ON CONFLICT (tenant, id) DO UPDATE SET type = excluded.type, subject = excluded.subject,"
    " received_at_ms = excluded.received_at_ms, acknowledge_by_ms = excluded.acknowledge_by_ms,"
    " due_by_ms = excluded.due_by_ms, extended = excluded.extended, status = excluded.status,"
    " handled_by = excluded.handled_by, acknowledged_at_ms = excluded.acknowledged_at_ms,"
    " closed_at_ms = excluded.closed_at_ms";
constexpr const char* request_get =
    "SELECT id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms, extended, status, handled_by,"
    " acknowledged_at_ms, closed_at_ms FROM subject_requests WHERE tenant = $1 AND id = $2";
constexpr const char* request_list =
    "SELECT id, type, subject, received_at_ms, acknowledge_by_ms, due_by_ms, extended, status, handled_by,"
    " acknowledged_at_ms, closed_at_ms FROM subject_requests WHERE tenant = $1 AND id > $2"
    " AND (NOT $4::boolean OR status IN ('received', 'acknowledged')) ORDER BY id LIMIT $3";

// The re-encryption source: every encrypted column, table by table, in key order from a position
// (inclusive).
constexpr const char* sealed_scan_settings = "SELECT value FROM store_settings WHERE name = 'key_check'";
constexpr const char* sealed_scan_contacts =
    "SELECT tenant, id, phone_e164, name, email FROM contacts WHERE (tenant, id) >= ($1, $2)"
    " ORDER BY tenant, id LIMIT $3";
constexpr const char* sealed_scan_messages =
    "SELECT tenant, id, body FROM messages WHERE (tenant, id) >= ($1, $2) ORDER BY tenant, id LIMIT $3";
constexpr const char* sealed_scan_optouts =
    "SELECT tenant, sequence, phone_e164 FROM optout_events WHERE (tenant, sequence) >= ($1, $2::bigint)"
    " AND erased_tag IS NULL ORDER BY tenant, sequence LIMIT $3";
constexpr const char* sealed_scan_consents =
    "SELECT tenant, sequence, phone_e164 FROM consent_records WHERE (tenant, sequence) >= ($1, $2::bigint)"
    " ORDER BY tenant, sequence LIMIT $3";
constexpr const char* sealed_scan_activity =
    "SELECT tenant, phone_key, phone_e164 FROM inbound_activity WHERE (tenant, phone_key) >= ($1, $2::bytea)"
    " ORDER BY tenant, phone_key LIMIT $3";
constexpr const char* sealed_replace_key_check =
    "UPDATE store_settings SET value = $2 WHERE name = 'key_check' AND value = $1";
constexpr const char* sealed_replace_contact_phone =
    "UPDATE contacts SET phone_e164 = $4 WHERE tenant = $1 AND id = $2 AND phone_e164 = $3";
constexpr const char* sealed_replace_contact_name =
    "UPDATE contacts SET name = $4 WHERE tenant = $1 AND id = $2 AND name = $3";
constexpr const char* sealed_replace_contact_email =
    "UPDATE contacts SET email = $4 WHERE tenant = $1 AND id = $2 AND email = $3";
constexpr const char* sealed_replace_message_body =
    "UPDATE messages SET body = $4 WHERE tenant = $1 AND id = $2 AND body = $3";
constexpr const char* sealed_replace_optout_phone =
    "UPDATE optout_events SET phone_e164 = $4 WHERE tenant = $1 AND sequence = $2::bigint AND phone_e164 = $3";
constexpr const char* sealed_replace_consent_phone =
    "UPDATE consent_records SET phone_e164 = $4 WHERE tenant = $1 AND sequence = $2::bigint AND phone_e164 = $3";
constexpr const char* sealed_replace_activity_phone =
    "UPDATE inbound_activity SET phone_e164 = $4 WHERE tenant = $1 AND phone_key = $2::bytea AND phone_e164 = $3";
}  // namespace sql

// ---------------------------------------------------------------------------------------------
// Errors

Error invalid(const char* what) { return Error(StorageErrc::invalid_argument, what); }

// ---------------------------------------------------------------------------------------------
// Values

std::int64_t ms(Timestamp t) noexcept { return to_unix_ms(t); }
std::int64_t clamp_limit(std::size_t n) noexcept {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, std::numeric_limits<std::int64_t>::max()));
}
template <class IdTag>
std::optional<std::string_view> optional_id(const std::optional<Id<IdTag>>& id) {
    if (!id) return std::nullopt;
    return std::string_view(id->value());
}
std::optional<std::int64_t> optional_ms(const std::optional<Timestamp>& t) {
    if (!t) return std::nullopt;
    return to_unix_ms(*t);
}
template <class IdType>
std::optional<IdType> optional_id_at(const Rows& rows, int r, int c) {
    if (rows.is_null(r, c)) return std::nullopt;
    return IdType{std::string(rows.text(r, c))};
}
std::int64_t int_at(const Rows& rows, int r, int c) { return rows.integer(r, c).value_or(0); }
Timestamp time_at(const Rows& rows, int r, int c) { return from_unix_ms(int_at(rows, r, c)); }
std::string text_at(const Rows& rows, int r, int c) { return std::string(rows.text(r, c)); }

/// A plaintext store's phone_key: the number's key, 8 bytes big-endian (so bytea order is number order).
std::array<std::uint8_t, 8> plain_phone_key(const PhoneNumber& phone) noexcept {
    std::uint64_t key = phone.key();
    std::array<std::uint8_t, 8> out{};
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(key & 0xFF);
        key >>= 8;
    }
    return out;
}

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

template <class Int>
std::optional<Int> parse_number(std::string_view text) {
    Int value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// A number from its stored E.164 text ("+14155550123"): the text was made by PhoneNumber::e164().
std::optional<PhoneNumber> phone_from_e164(std::string_view text) {
    if (text.size() < 2 || text.front() != '+') return std::nullopt;
    const auto key = parse_number<std::uint64_t>(text.substr(1));
    if (!key) return std::nullopt;
    auto phone = PhoneNumber::from_key(*key);
    if (!phone) return std::nullopt;
    return std::move(phone).value();
}

// ---------------------------------------------------------------------------------------------
// Field encryption: names, the database's settings, and the columns a re-encryption pass walks

/// The place each encrypted column's ciphertexts are bound to (with the tenant and row id); the
/// same names as the SQLite store's.
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

/// store_settings rows, as in the SQLite store: field_encryption is "off" or "aes-256-gcm";
/// key_check a FieldCipher ciphertext of key_check_text, blind_index_check the tag of the same
/// text: at open they show whether the keys given are the database's, before a wrong blind-index
/// key could make every phone lookup miss (which would read as "never opted out").
constexpr std::string_view encryption_setting = "field_encryption";
constexpr std::string_view encryption_off = "off";
constexpr std::string_view encryption_aes_gcm = "aes-256-gcm";
constexpr std::string_view key_check_setting = "key_check";
constexpr std::string_view blind_index_check_setting = "blind_index_check";
constexpr std::string_view key_check_text = "heroshhi field encryption check";
constexpr std::string_view store_tenant_id = "heroshhi.store";

/// How a row of an encrypted table is keyed (with its tenant), in scans and ciphertexts.
enum class RowKey {
    setting,   ///< the key_check row of store_settings
    text_id,   ///< (tenant, id): contacts, messages
    sequence,  ///< (tenant, sequence): opt-out events, consent records; the row id is the number
    tag,       ///< (tenant, phone_key tag): inbound activity; the row id is the tag in hex
};

struct SealedColumn {
    crypto::FieldName field;
    const char* replace;  ///< compare-and-swap of the column's ciphertext
};

struct SealedTable {
    const char* scan;
    RowKey key;
    std::array<SealedColumn, 3> columns;
    std::size_t width;
};

constexpr std::array<SealedTable, 6> sealed_tables{{
    {sql::sealed_scan_settings, RowKey::setting, {{{fields::key_check, sql::sealed_replace_key_check}}}, 1},
    {sql::sealed_scan_contacts,
     RowKey::text_id,
     {{{fields::contact_phone, sql::sealed_replace_contact_phone},
       {fields::contact_name, sql::sealed_replace_contact_name},
       {fields::contact_email, sql::sealed_replace_contact_email}}},
     3},
    {sql::sealed_scan_messages, RowKey::text_id, {{{fields::message_body, sql::sealed_replace_message_body}}}, 1},
    {sql::sealed_scan_optouts, RowKey::sequence, {{{fields::optout_phone, sql::sealed_replace_optout_phone}}}, 1},
    {sql::sealed_scan_consents, RowKey::sequence, {{{fields::consent_phone, sql::sealed_replace_consent_phone}}}, 1},
    {sql::sealed_scan_activity, RowKey::tag, {{{fields::activity_phone, sql::sealed_replace_activity_phone}}}, 1},
}};

/// A row of a SealedTable as a scan reads it.
struct SealedRow {
    std::string tenant;
    std::string key;     ///< the id, the sequence in decimal, or the tag's bytes
    std::string row_id;  ///< what the ciphertexts are bound to
    std::array<crypto::Bytes, 3> values;
};

/// Where a re-encryption scan stands: the last field handed out (table, row, column), encoded as
/// "table/hex(tenant).hex(key)/column".
struct SealedCursor {
    std::size_t table = 0;
    std::string tenant;
    std::string key;
    std::size_t column = 0;

    bool at(const SealedRow& row) const { return row.tenant == tenant && row.key == key; }
};

std::string encode_cursor(const SealedCursor& c) {
    return std::to_string(c.table) + "/" + hex(pg::as_bytes(c.tenant)) + "." + hex(pg::as_bytes(c.key)) + "/" +
           std::to_string(c.column);
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
    const auto dot = position.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    const auto tenant = unhex(position.substr(0, dot));
    const auto key = unhex(position.substr(dot + 1));
    if (!tenant || !key) return std::nullopt;
    c.tenant.assign(tenant->begin(), tenant->end());
    c.key.assign(key->begin(), key->end());
    return c;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Impl: the pool; implements every port.

class PostgresStore::Impl final : public ContactStore,
                                  public MessageStore,
                                  public OptOutStore,
                                  public ConsentStore,
                                  public ActivityStore,
                                  public DedupStore,
                                  public AuditStore,
                                  public RequestStore,
                                  public crypto::EncryptedFieldSource {
public:
    static Result<std::unique_ptr<Impl>> open(const std::string& conninfo, const PostgresOptions& options);

    Impl(std::unique_ptr<pg::Pool> pool, const PostgresOptions& options)
        : pool_(std::move(pool)), blind_index_(options.blind_index) {
        if (options.keys != nullptr) cipher_.emplace(*options.keys);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    // ContactStore
    Result<void> put(const Contact& contact) override;
    Result<std::optional<Contact>> get(const TenantId& tenant, const ContactId& id) const override;
    Result<std::optional<Contact>> find_by_phone(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<std::vector<Contact>> list(const TenantId& tenant, const Page& page) const override;
    Result<std::vector<Contact>> list_held(const TenantId& tenant, const Page& page) const override;
    Result<std::vector<Contact>> list_contacts(const char* query, const TenantId& tenant, const Page& page) const;
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
    // record_inbound_async keeps ActivityStore's default (false: not offered). A write here is a
    // network round trip with no group commit to join yet; a caller that cannot block runs
    // record_inbound on a thread that may.
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
    // crypto::EncryptedFieldSource
    Result<std::vector<crypto::EncryptedField>> next_batch(std::string_view cursor, std::size_t limit,
                                                           crypto::KeyId primary) override;
    Result<bool> replace(const crypto::EncryptedField& field, const crypto::Bytes& replacement) override;

    bool encrypted() const noexcept { return encrypted_; }
    detail::PgHandle retention_handle() noexcept { return {*pool_, encrypted_}; }

private:
    Result<Lease> lease() const { return pool_->acquire(); }
    const std::string& target() const noexcept { return pool_->target(); }
    Error corrupt_row(std::string_view what) const {
        return Error(StorageErrc::corrupt, "a stored " + std::string(what) + " in " + target() + " cannot be read back");
    }

    // Field encryption
    Result<void> settle_encryption(Lease& lease, const PostgresOptions& options);
    Result<std::optional<std::string>> read_setting(Lease& lease, std::string_view name) const;
    Result<void> write_setting(Lease& lease, std::string_view name, std::span<const std::uint8_t> value) const;
    Result<void> check_keys(Lease& lease) const;
    /// What phone_key holds for `phone`: its 8-byte key, or its blind-index tag.
    Result<crypto::Bytes> phone_key(const TenantId& tenant, const PhoneNumber& phone) const;
    /// The bytes to store for a sensitive column: the text itself, or its ciphertext.
    Result<crypto::Bytes> seal(const TenantId& tenant, crypto::FieldName field, std::string_view row_id,
                               std::string_view plaintext) const;
    /// A sensitive column's plaintext; in an encrypted store only a ciphertext for this place is accepted.
    Result<std::string> unseal(const Rows& rows, int r, int c, const TenantId& tenant, crypto::FieldName field,
                               std::string_view row_id) const;
    /// A stored phone number: from phone_key in a plaintext store, from the ciphertext in column
    /// `sealed` in an encrypted one.
    Result<PhoneNumber> read_phone(const Rows& rows, int r, int key, int sealed, const TenantId& tenant,
                                   crypto::FieldName field, std::string_view row_id) const;
    Error crypto_failure(const Error& error, std::string_view action, crypto::FieldName field,
                         std::string_view row_id) const;
    Error blind_index_failure(const Error& error) const {
        return Error(error == crypto::CryptoErrc::invalid_argument ? StorageErrc::invalid_argument : StorageErrc::unavailable,
                     "computing a blind index for " + target() + " failed: " + error.message());
    }
    Result<std::vector<SealedRow>> sealed_rows(const SealedTable& table, const SealedCursor& from,
                                               std::size_t limit) const;

    Result<Contact> read_contact(const Rows& rows, int r, const TenantId& tenant) const;
    Result<MessageRecord> read_message(const Rows& rows, int r, const TenantId& tenant, const ContactId& contact) const;
    Result<optout::OptOutEvent> read_event(const Rows& rows, int r, const TenantId& tenant) const;
    Result<ConsentRecord> read_consent(const Rows& rows, int r, const TenantId& tenant) const;
    Result<audit::Entry> read_audit_entry(const Rows& rows, int r, const TenantId& tenant) const;
    Result<audit::ChainState> read_chain(Lease& lease, const char* statement, const TenantId& tenant) const;
    Result<privacy::SubjectRequest> read_request(const Rows& rows, int r, const TenantId& tenant) const;
    /// Runs a statement bound to (tenant, phone_key of `phone`) that changes rows; returns how many.
    Result<std::size_t> change_by_phone(const char* statement, const TenantId& tenant, const PhoneNumber& phone,
                                        std::string_view action);

    std::unique_ptr<pg::Pool> pool_;
    std::optional<crypto::FieldCipher> cipher_;  // set when opened with keys
    const crypto::BlindIndex* blind_index_;      // set when opened with keys
    bool encrypted_ = false;                     // the database's mode, settled at open
};

// ---------------------------------------------------------------------------------------------
// Opening: migrate and settle the encryption mode in one transaction, under the migration lock

Result<std::unique_ptr<PostgresStore::Impl>> PostgresStore::Impl::open(const std::string& conninfo,
                                                                       const PostgresOptions& options) {
    if ((options.keys == nullptr) != (options.blind_index == nullptr))
        return invalid("field encryption needs both a key ring and a blind index");
    if (options.pool_size == 0) return invalid("the connection pool needs at least one connection");
    if (options.connect_timeout.count() < 0 || options.statement_timeout.count() < 0)
        return invalid("a PostgreSQL timeout is negative");
    pg::PoolOptions pool_options;
    pool_options.conninfo = conninfo;
    pool_options.size = options.pool_size;
    pool_options.connect_timeout = options.connect_timeout;
    pool_options.statement_timeout = options.statement_timeout;
    auto pool = pg::Pool::create(std::move(pool_options));
    if (!pool) return pool.error();
    auto impl = std::make_unique<Impl>(std::move(pool).value(), options);
    auto lease = impl->lease();
    if (!lease) return lease.error();
    auto opened = pg::transaction<void>(*lease, "opening the store", [&]() -> Result<void> {
        auto version = pg::migrate(*lease);
        if (!version) return version.error();
        return impl->settle_encryption(*lease, options);
    });
    if (!opened) return opened.error();
    return impl;
}

Result<std::optional<std::string>> PostgresStore::Impl::read_setting(Lease& lease, std::string_view name) const {
    auto rows = lease.exec(sql::settings_get, Params().text(name), "reading the store's settings");
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<std::string>{};
    auto bytes = rows->bytes(0, 0);
    if (!bytes) return corrupt_row("store setting");
    return std::optional<std::string>{std::string(bytes->begin(), bytes->end())};
}

Result<void> PostgresStore::Impl::write_setting(Lease& lease, std::string_view name,
                                                std::span<const std::uint8_t> value) const {
    auto rows = lease.exec(sql::settings_insert, Params().text(name).bytes(value), "writing the store's settings");
    if (!rows) return rows.error();
    return {};
}

Result<void> PostgresStore::Impl::settle_encryption(Lease& lease, const PostgresOptions& options) {
    const bool with_keys = cipher_.has_value();
    auto mode = read_setting(lease, encryption_setting);
    if (!mode) return mode.error();
    if (!*mode) {
        // The first opener fixes the database's mode, with the check values (under the migration lock).
        *mode = std::string(with_keys ? encryption_aes_gcm : encryption_off);
        if (auto ok = write_setting(lease, encryption_setting, pg::as_bytes(**mode)); !ok) return ok;
        if (with_keys) {
            encrypted_ = true;  // so that seal() encrypts the check value
            const TenantId store_tenant{store_tenant_id};
            auto check = seal(store_tenant, fields::key_check, key_check_setting, key_check_text);
            if (!check) return check.error();
            auto tag = options.blind_index->compute(store_tenant, "store-check", key_check_text);
            if (!tag) return blind_index_failure(tag.error());
            if (auto ok = write_setting(lease, key_check_setting, *check); !ok) return ok;
            if (auto ok = write_setting(lease, blind_index_check_setting, *tag); !ok) return ok;
        }
    }
    if (**mode == encryption_off) {
        encrypted_ = false;
        if (!with_keys) return {};
        return Error(StorageErrc::not_encrypted,
                     target() + " was written without field encryption and was opened with keys; it was left unchanged");
    }
    if (**mode == encryption_aes_gcm) {
        encrypted_ = true;
        if (!with_keys)
            return Error(StorageErrc::key_unavailable,
                         target() + " is encrypted: open it with PostgresOptions::keys and blind_index");
        return check_keys(lease);
    }
    return Error(StorageErrc::newer_schema,
                 target() + " uses a field encryption mode this build does not know; it was left unchanged");
}

/// The keys given must be the database's: its key check value decrypts, and the blind index gives
/// the tag it gave when the database was created.
Result<void> PostgresStore::Impl::check_keys(Lease& lease) const {
    const TenantId store_tenant{store_tenant_id};
    auto expected = read_setting(lease, blind_index_check_setting);
    if (!expected) return expected.error();
    auto tag = blind_index_->compute(store_tenant, "store-check", key_check_text);
    if (!tag) return blind_index_failure(tag.error());
    if (!*expected || **expected != std::string_view(reinterpret_cast<const char*>(tag->data()), tag->size()))
        return Error(StorageErrc::key_unavailable,
                     "the blind index was given another key than the one " + target() +
                         " was written with: phone numbers could not be found; it was left unchanged");
    auto check = read_setting(lease, key_check_setting);
    if (!check) return check.error();
    if (!*check) return corrupt_row("key check value");
    const auto bytes = pg::as_bytes(**check);
    auto plain = cipher_->decrypt(store_tenant, fields::key_check, key_check_setting, bytes);
    if (plain && *plain == key_check_text) return {};
    const auto id = crypto::FieldCipher::key_id(bytes);
    const std::string key = id ? "key " + std::to_string(id->value) : "its key";
    if (!plain && plain.error() == crypto::CryptoErrc::unknown_key)
        return Error(StorageErrc::key_unavailable,
                     target() + " is encrypted under " + key + ", which the key ring does not hold; it was left unchanged");
    return Error(StorageErrc::key_unavailable,
                 "the key ring's " + key + " is not the key " + target() + " was encrypted with; it was left unchanged");
}

Result<crypto::Bytes> PostgresStore::Impl::phone_key(const TenantId& tenant, const PhoneNumber& phone) const {
    if (!encrypted_) {
        const auto key = plain_phone_key(phone);
        return crypto::Bytes(key.begin(), key.end());
    }
    auto tag = blind_index_->phone(tenant, phone);
    if (!tag) return blind_index_failure(tag.error());
    return crypto::Bytes(tag->begin(), tag->end());
}

Result<crypto::Bytes> PostgresStore::Impl::seal(const TenantId& tenant, crypto::FieldName field,
                                                std::string_view row_id, std::string_view plaintext) const {
    if (!encrypted_) return crypto::Bytes(plaintext.begin(), plaintext.end());
    auto ciphertext = cipher_->encrypt(tenant, field, row_id, plaintext);
    if (!ciphertext) return crypto_failure(ciphertext.error(), "encrypting", field, row_id);
    return ciphertext;
}

Result<std::string> PostgresStore::Impl::unseal(const Rows& rows, int r, int c, const TenantId& tenant,
                                                crypto::FieldName field, std::string_view row_id) const {
    auto bytes = rows.bytes(r, c);
    if (!bytes) return corrupt_row(std::string(field.table) + "." + std::string(field.column));
    if (!encrypted_) return std::string(bytes->begin(), bytes->end());
    auto plain = cipher_->decrypt(tenant, field, row_id, *bytes);
    if (!plain) return crypto_failure(plain.error(), "decrypting", field, row_id);
    return plain;
}

Result<PhoneNumber> PostgresStore::Impl::read_phone(const Rows& rows, int r, int key, int sealed,
                                                    const TenantId& tenant, crypto::FieldName field,
                                                    std::string_view row_id) const {
    if (!encrypted_) {
        const auto bytes = rows.bytes(r, key);
        if (!bytes || bytes->size() != 8) return corrupt_row("phone number");
        std::uint64_t value = 0;
        for (const std::uint8_t b : *bytes) value = (value << 8) | b;
        auto phone = PhoneNumber::from_key(value);
        if (!phone) return corrupt_row("phone number");
        return std::move(phone).value();
    }
    auto text = unseal(rows, r, sealed, tenant, field, row_id);
    if (!text) return text.error();
    auto phone = phone_from_e164(*text);
    if (!phone) return corrupt_row("phone number");
    return std::move(*phone);
}

/// A crypto error on the way to or from the database, as a storage error: a key the ring lacks is
/// key_unavailable; a ciphertext that fails authentication (altered, or copied from another row or
/// tenant) or is malformed is corrupt. The detail names the place, never the value.
Error PostgresStore::Impl::crypto_failure(const Error& error, std::string_view action, crypto::FieldName field,
                                          std::string_view row_id) const {
    StorageErrc code = StorageErrc::unavailable;
    if (error == crypto::CryptoErrc::unknown_key) code = StorageErrc::key_unavailable;
    else if (error == crypto::CryptoErrc::authentication_failed || error == crypto::CryptoErrc::malformed_ciphertext ||
             error == crypto::CryptoErrc::unsupported_version)
        code = StorageErrc::corrupt;
    else if (error == crypto::CryptoErrc::invalid_argument) code = StorageErrc::invalid_argument;
    std::string detail(action);
    detail.append(" ").append(field.table).append(".").append(field.column).append(" of row '").append(row_id);
    detail.append("' in ").append(target()).append(" failed: ").append(error.message());
    return Error(code, std::move(detail));
}

// ---------------------------------------------------------------------------------------------
// Reading rows

Result<Contact> PostgresStore::Impl::read_contact(const Rows& rows, int r, const TenantId& tenant) const {
    const std::string id = text_at(rows, r, 0);
    auto phone = read_phone(rows, r, 1, 12, tenant, fields::contact_phone, id);
    if (!phone) return phone.error();
    auto name = unseal(rows, r, 2, tenant, fields::contact_name, id);
    if (!name) return name.error();
    auto email = unseal(rows, r, 3, tenant, fields::contact_email, id);
    if (!email) return email.error();
    Contact c{tenant, ContactId{id}, std::move(phone).value()};
    c.name = std::move(name).value();
    c.email = std::move(email).value();
    c.source = text_at(rows, r, 4);
    c.assignee = optional_id_at<UserId>(rows, r, 5);
    c.team = text_at(rows, r, 6);
    c.created_at = time_at(rows, r, 7);
    c.updated_at = time_at(rows, r, 8);
    if (!rows.is_null(r, 9)) c.deleted_at = time_at(rows, r, 9);
    c.legal_hold = rows.boolean(r, 10);
    c.restricted = rows.boolean(r, 11);
    c.analytics_objection = rows.boolean(r, 13);
    return c;
}

Result<MessageRecord> PostgresStore::Impl::read_message(const Rows& rows, int r, const TenantId& tenant,
                                                        const ContactId& contact) const {
    const auto direction = direction_from_string(rows.text(r, 1));
    const auto status = message_status_from_string(rows.text(r, 3));
    if (!direction || !status) return corrupt_row("message direction or status");
    MessageRecord m;
    m.tenant = tenant;
    m.id = MessageId{text_at(rows, r, 0)};
    auto body = unseal(rows, r, 2, tenant, fields::message_body, m.id.value());
    if (!body) return body.error();
    m.contact = contact;
    m.direction = *direction;
    m.body = std::move(body).value();
    m.status = *status;
    m.provider_message_id = text_at(rows, r, 4);
    m.created_at = time_at(rows, r, 5);
    m.updated_at = time_at(rows, r, 6);
    return m;
}

Result<optout::OptOutEvent> PostgresStore::Impl::read_event(const Rows& rows, int r, const TenantId& tenant) const {
    auto phone = read_phone(rows, r, 1, 10, tenant, fields::optout_phone, rows.text(r, 0));
    if (!phone) return phone.error();
    const auto kind = optout::event_kind_from_string(rows.text(r, 2));
    const auto scope = optout::scope_from_string(rows.text(r, 3));
    const auto method = optout::method_from_string(rows.text(r, 4));
    if (!kind || !scope || !method) return corrupt_row("opt-out event kind, scope or method");
    optout::OptOutEvent event(tenant, std::move(phone).value());
    event.kind = *kind;
    event.scope = *scope;
    event.method = *method;
    event.at = time_at(rows, r, 5);
    event.trigger = text_at(rows, r, 6);
    event.channel = text_at(rows, r, 7);
    event.actor = optional_id_at<UserId>(rows, r, 8);
    event.provider_message_id = text_at(rows, r, 9);
    event.sequence = int_at(rows, r, 0);
    return event;
}

Result<ConsentRecord> PostgresStore::Impl::read_consent(const Rows& rows, int r, const TenantId& tenant) const {
    auto phone = read_phone(rows, r, 1, 7, tenant, fields::consent_phone, rows.text(r, 0));
    if (!phone) return phone.error();
    const auto purpose = purpose_from_string(rows.text(r, 2));
    if (!purpose) return corrupt_row("consent purpose");
    return ConsentRecord{
        .tenant = tenant,
        .phone = std::move(phone).value(),
        .purpose = *purpose,
        .granted = rows.boolean(r, 3),
        .at = time_at(rows, r, 4),
        .source = text_at(rows, r, 5),
        .actor = optional_id_at<UserId>(rows, r, 6),
    };
}

// ---------------------------------------------------------------------------------------------
// ContactStore

Result<void> PostgresStore::Impl::put(const Contact& c) {
    return guarded<void>([&]() -> Result<void> {
        if (c.tenant.empty() || c.id.empty()) return invalid("a contact needs a tenant and an id");
        auto key = phone_key(c.tenant, c.phone);
        if (!key) return key.error();
        auto phone = seal(c.tenant, fields::contact_phone, c.id.value(), c.phone.e164());
        auto name = seal(c.tenant, fields::contact_name, c.id.value(), c.name);
        auto email = seal(c.tenant, fields::contact_email, c.id.value(), c.email);
        if (!phone) return phone.error();
        if (!name) return name.error();
        if (!email) return email.error();
        Params p;
        p.text(c.tenant.value()).text(c.id.value()).bytes(*key).bytes(*phone).bytes(*name).bytes(*email);
        p.text(c.source).optional_text(optional_id(c.assignee)).text(c.team).integer(ms(c.created_at));
        p.integer(ms(c.updated_at)).optional_integer(optional_ms(c.deleted_at)).boolean(c.legal_hold);
        p.boolean(c.restricted).boolean(c.analytics_objection);
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::contact_upsert, p, "storing a contact");
        if (!rows) return rows.error();
        return {};
    });
}

Result<std::optional<Contact>> PostgresStore::Impl::get(const TenantId& tenant, const ContactId& id) const {
    return guarded<std::optional<Contact>>([&]() -> Result<std::optional<Contact>> {
        if (tenant.empty() || id.empty()) return invalid("reading a contact needs a tenant and an id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::contact_get, Params().text(tenant.value()).text(id.value()), "reading a contact");
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<Contact>{};
        auto contact = read_contact(*rows, 0, tenant);
        if (!contact) return contact.error();
        return std::optional<Contact>{std::move(contact).value()};
    });
}

Result<std::optional<Contact>> PostgresStore::Impl::find_by_phone(const TenantId& tenant,
                                                                  const PhoneNumber& phone) const {
    return guarded<std::optional<Contact>>([&]() -> Result<std::optional<Contact>> {
        if (tenant.empty()) return invalid("finding a contact needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::contact_find_live_by_phone, Params().text(tenant.value()).bytes(*key),
                                "finding a contact by phone number");
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<Contact>{};
        auto contact = read_contact(*rows, 0, tenant);
        if (!contact) return contact.error();
        return std::optional<Contact>{std::move(contact).value()};
    });
}

Result<std::vector<Contact>> PostgresStore::Impl::list(const TenantId& tenant, const Page& page) const {
    return list_contacts(sql::contact_list, tenant, page);
}

Result<std::vector<Contact>> PostgresStore::Impl::list_held(const TenantId& tenant, const Page& page) const {
    return list_contacts(sql::contact_list_held, tenant, page);
}

Result<std::vector<Contact>> PostgresStore::Impl::list_contacts(const char* query, const TenantId& tenant,
                                                              const Page& page) const {
    return guarded<std::vector<Contact>>([&]() -> Result<std::vector<Contact>> {
        if (tenant.empty()) return invalid("listing contacts needs a tenant");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(query,
                                Params().text(tenant.value()).text(page.after).integer(clamp_limit(page.limit)),
                                "listing contacts");
        if (!rows) return rows.error();
        std::vector<Contact> out;
        out.reserve(static_cast<std::size_t>(rows->size()));
        for (int r = 0; r < rows->size(); ++r) {
            auto contact = read_contact(*rows, r, tenant);
            if (!contact) return contact.error();
            out.push_back(std::move(contact).value());
        }
        return out;
    });
}

Result<bool> PostgresStore::Impl::soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("deleting a contact needs a tenant and an id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::contact_soft_delete,
                                Params().text(tenant.value()).text(id.value()).integer(ms(at)),
                                "soft-deleting a contact");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

Result<bool> PostgresStore::Impl::hard_delete(const TenantId& tenant, const ContactId& id) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("deleting a contact needs a tenant and an id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        // One statement: the contact row and, through ON DELETE CASCADE, its messages.
        auto rows = lease->exec(sql::contact_hard_delete, Params().text(tenant.value()).text(id.value()),
                                "hard-deleting a contact and its messages");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

// ---------------------------------------------------------------------------------------------
// MessageStore

Result<bool> PostgresStore::Impl::append(const MessageRecord& m) {
    return guarded<bool>([&]() -> Result<bool> {
        if (m.tenant.empty() || m.id.empty() || m.contact.empty())
            return invalid("a message needs a tenant, an id and a contact");
        auto body = seal(m.tenant, fields::message_body, m.id.value(), m.body);
        if (!body) return body.error();
        Params p;
        p.text(m.tenant.value()).text(m.id.value()).text(m.contact.value()).text(to_string(m.direction));
        p.bytes(*body).text(to_string(m.status)).text(m.provider_message_id).integer(ms(m.created_at));
        p.integer(ms(m.updated_at));
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::message_insert, p, "appending a message");
        if (!rows) {
            if (lease->last_sqlstate() == "23503")  // foreign_key_violation
                return Error(StorageErrc::not_found, "the message's contact does not exist");
            return rows.error();
        }
        return rows->affected() > 0;
    });
}

Result<bool> PostgresStore::Impl::update_status(const TenantId& tenant, const MessageId& id, MessageStatus status,
                                                Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty()) return invalid("updating a message needs a tenant and an id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::message_update_status,
                                Params().text(tenant.value()).text(id.value()).text(to_string(status)).integer(ms(at)),
                                "updating a message's status");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

Result<bool> PostgresStore::Impl::record_sent(const TenantId& tenant, const MessageId& id,
                                              std::string_view provider_message_id, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || id.empty() || provider_message_id.empty())
            return invalid("recording a send needs a tenant, an id and a provider message id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::message_record_sent,
                                Params().text(tenant.value()).text(id.value()).text(provider_message_id).integer(ms(at)),
                                "recording a message as sent");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

Result<std::optional<MessageId>> PostgresStore::Impl::update_status_by_provider_id(
    const TenantId& tenant, std::string_view provider_message_id, MessageStatus status, Timestamp at) {
    return guarded<std::optional<MessageId>>([&]() -> Result<std::optional<MessageId>> {
        if (tenant.empty() || provider_message_id.empty())
            return invalid("a status update needs a tenant and a provider message id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        // Read, decide, then compare-and-set on the status read: another instance's update of the
        // same message in between makes the update miss, and it is decided again on the new status.
        for (int attempt = 0; attempt < status_update_attempts; ++attempt) {
            auto found = lease->exec(sql::message_find_by_provider_id,
                                     Params().text(tenant.value()).text(provider_message_id),
                                     "finding a message by its provider id");
            if (!found) return found.error();
            if (found->empty()) return std::optional<MessageId>{};
            const auto current = message_status_from_string(found->text(0, 1));
            if (!current) return corrupt_row("message status");
            if (!status_advances(*current, status)) return std::optional<MessageId>{};
            std::string id = text_at(*found, 0, 0);
            Params p;
            p.text(tenant.value()).text(id).text(to_string(*current)).text(to_string(status)).integer(ms(at));
            auto changed = lease->exec(sql::message_advance_status, p, "updating a message's status");
            if (!changed) return changed.error();
            if (changed->affected() > 0) return std::optional<MessageId>{MessageId{std::move(id)}};
        }
        return Error(StorageErrc::unavailable, "a message's status kept changing under a status update; try again");
    });
}

Result<std::vector<MessageRecord>> PostgresStore::Impl::list_for_contact(const TenantId& tenant,
                                                                         const ContactId& contact,
                                                                         std::size_t limit) const {
    return guarded<std::vector<MessageRecord>>([&]() -> Result<std::vector<MessageRecord>> {
        if (tenant.empty() || contact.empty()) return invalid("listing messages needs a tenant and a contact");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::message_list_for_contact,
                                Params().text(tenant.value()).text(contact.value()).integer(clamp_limit(limit)),
                                "listing a contact's messages");
        if (!rows) return rows.error();
        std::vector<MessageRecord> out;
        out.reserve(static_cast<std::size_t>(rows->size()));
        for (int r = 0; r < rows->size(); ++r) {
            auto message = read_message(*rows, r, tenant, contact);
            if (!message) return message.error();
            out.push_back(std::move(message).value());
        }
        return out;
    });
}

Result<void> PostgresStore::Impl::scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                                   const std::function<void(const MessageRecord&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || contact.empty() || !visit)
            return invalid("scanning messages needs a tenant, a contact and a visitor");
        std::int64_t after_ms = std::numeric_limits<std::int64_t>::min();
        std::int64_t after_seq = std::numeric_limits<std::int64_t>::min();
        for (;;) {
            std::vector<MessageRecord> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                Params p;
                p.text(tenant.value()).text(contact.value()).integer(after_ms).integer(after_seq).integer(scan_batch);
                auto rows = lease->exec(sql::message_scan_for_contact, p, "scanning a contact's messages");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    auto message = read_message(*rows, r, tenant, contact);
                    if (!message) return message.error();
                    after_ms = int_at(*rows, r, 5);
                    after_seq = int_at(*rows, r, 7);
                    batch.push_back(std::move(message).value());
                }
            }
            for (const auto& m : batch) visit(m);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

// ---------------------------------------------------------------------------------------------
// OptOutStore

Result<bool> PostgresStore::Impl::append(optout::OptOutEvent& e) {
    return guarded<bool>([&]() -> Result<bool> {
        if (e.tenant.empty()) return invalid("an opt-out event needs a tenant");
        auto key = phone_key(e.tenant, e.phone);
        if (!key) return key.error();
        const std::string e164 = e.phone.e164();
        auto lease = this->lease();
        if (!lease) return lease.error();
        // Counter, event, counter moved and notification in one transaction: the other instances
        // hear of the event only once it is committed, and see sequences in commit order.
        auto sequence = pg::transaction<std::int64_t>(*lease, "appending an opt-out event", [&]() -> Result<std::int64_t> {
            auto last = lease->exec(sql::optout_lock_sequence, Params().text(e.tenant.value()),
                                    "taking the tenant's opt-out sequence");
            if (!last) return last.error();
            if (last->empty() || !last->integer(0, 0)) return corrupt_row("opt-out sequence");
            const std::int64_t next = *last->integer(0, 0) + 1;
            // The number's ciphertext is bound to the sequence, known only now.
            auto phone = seal(e.tenant, fields::optout_phone, std::to_string(next), e164);
            if (!phone) return phone.error();
            Params p;
            p.text(e.tenant.value()).integer(next).bytes(*key).bytes(*phone).text(to_string(e.kind));
            p.text(to_string(e.scope)).text(to_string(e.method)).integer(ms(e.at)).text(e.trigger).text(e.channel);
            p.optional_text(optional_id(e.actor)).text(e.provider_message_id);
            auto inserted = lease->exec(sql::optout_insert, p, "appending an opt-out event");
            if (!inserted) return inserted.error();
            return inserted->empty() ? std::int64_t{0} : next;  // none: a redelivered provider message id
        });
        if (!sequence) return sequence.error();
        if (*sequence == 0) return false;
        e.sequence = *sequence;
        return true;
    });
}

Result<std::vector<optout::OptOutEvent>> PostgresStore::Impl::history(const TenantId& tenant,
                                                                      const PhoneNumber& phone) const {
    return guarded<std::vector<optout::OptOutEvent>>([&]() -> Result<std::vector<optout::OptOutEvent>> {
        if (tenant.empty()) return invalid("reading opt-out history needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::optout_history, Params().text(tenant.value()).bytes(*key), "reading opt-out history");
        if (!rows) return rows.error();
        std::vector<optout::OptOutEvent> out;
        for (int r = 0; r < rows->size(); ++r) {
            auto event = read_event(*rows, r, tenant);
            if (!event) return event.error();
            out.push_back(std::move(event).value());
        }
        return out;
    });
}

Result<void> PostgresStore::Impl::scan(const TenantId& tenant,
                                       const std::function<void(const optout::OptOutEvent&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning opt-out events needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<optout::OptOutEvent> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                auto rows = lease->exec(sql::optout_scan, Params().text(tenant.value()).integer(after).integer(scan_batch),
                                        "scanning opt-out events");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    auto event = read_event(*rows, r, tenant);
                    if (!event) return event.error();
                    batch.push_back(std::move(event).value());
                }
            }
            for (const auto& event : batch) visit(event);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
            after = batch.back().sequence;
        }
    });
}

Result<std::size_t> PostgresStore::Impl::erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                                      const optout::NumberTag& tag) {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        if (tenant.empty()) return invalid("erasing a number needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::optout_erase_number, Params().text(tenant.value()).bytes(*key).bytes(tag),
                                "erasing the number of opt-out events");
        if (!rows) return rows.error();
        return static_cast<std::size_t>(rows->affected());
    });
}

Result<void> PostgresStore::Impl::scan_erased(const TenantId& tenant,
                                              const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning erased opt-out events needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<optout::ErasedOptOutEvent> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                auto rows = lease->exec(sql::optout_scan_erased,
                                        Params().text(tenant.value()).integer(after).integer(scan_batch),
                                        "scanning erased opt-out events");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    const auto tag_bytes = rows->bytes(r, 1);
                    const auto kind = optout::event_kind_from_string(rows->text(r, 2));
                    const auto scope = optout::scope_from_string(rows->text(r, 3));
                    const auto method = optout::method_from_string(rows->text(r, 4));
                    if (!tag_bytes || tag_bytes->size() != optout::NumberTag{}.size() || !kind || !scope || !method)
                        return corrupt_row("erased opt-out event");
                    optout::NumberTag tag{};
                    std::copy(tag_bytes->begin(), tag_bytes->end(), tag.begin());
                    optout::ErasedOptOutEvent e{tenant, tag, *kind, *scope, *method, time_at(*rows, r, 5),
                                                text_at(*rows, r, 6), text_at(*rows, r, 7), int_at(*rows, r, 0)};
                    after = e.sequence;
                    batch.push_back(std::move(e));
                }
            }
            for (const auto& e : batch) visit(e);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

Result<void> PostgresStore::Impl::scan_since(
    const TenantId& tenant, std::int64_t after_sequence, const std::function<void(const optout::OptOutEvent&)>& visit,
    const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit || !visit_erased)
            return invalid("scanning opt-out events needs a tenant and two visitors");
        std::int64_t after = after_sequence;
        for (;;) {
            std::vector<std::variant<optout::OptOutEvent, optout::ErasedOptOutEvent>> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                auto rows = lease->exec(sql::optout_scan_since,
                                        Params().text(tenant.value()).integer(after).integer(scan_batch),
                                        "scanning opt-out events since a sequence");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    after = int_at(*rows, r, 0);
                    if (rows->is_null(r, 11)) {
                        auto event = read_event(*rows, r, tenant);
                        if (!event) return event.error();
                        batch.emplace_back(std::move(event).value());
                        continue;
                    }
                    const auto tag_bytes = rows->bytes(r, 11);
                    const auto kind = optout::event_kind_from_string(rows->text(r, 2));
                    const auto scope = optout::scope_from_string(rows->text(r, 3));
                    const auto method = optout::method_from_string(rows->text(r, 4));
                    if (!tag_bytes || tag_bytes->size() != optout::NumberTag{}.size() || !kind || !scope || !method)
                        return corrupt_row("erased opt-out event");
                    optout::NumberTag tag{};
                    std::copy(tag_bytes->begin(), tag_bytes->end(), tag.begin());
                    batch.emplace_back(optout::ErasedOptOutEvent{tenant, tag, *kind, *scope, *method, time_at(*rows, r, 5),
                                                                 text_at(*rows, r, 6), text_at(*rows, r, 7), after});
                }
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

Result<void> PostgresStore::Impl::append(const ConsentRecord& r) {
    return guarded<void>([&]() -> Result<void> {
        if (r.tenant.empty()) return invalid("a consent record needs a tenant");
        auto key = phone_key(r.tenant, r.phone);
        if (!key) return key.error();
        const std::string e164 = r.phone.e164();
        auto lease = this->lease();
        if (!lease) return lease.error();
        Params p;
        p.text(r.tenant.value());
        const char* statement = sql::consent_insert_plain;
        if (encrypted_) {
            // The number's ciphertext is bound to the record's sequence: take it first.
            auto next = lease->exec(sql::consent_next_sequence, "numbering a consent record");
            if (!next) return next.error();
            if (next->empty() || !next->integer(0, 0)) return corrupt_row("consent sequence");
            const std::int64_t sequence = *next->integer(0, 0);
            auto phone = seal(r.tenant, fields::consent_phone, std::to_string(sequence), e164);
            if (!phone) return phone.error();
            p.integer(sequence).bytes(*key).bytes(*phone);
            statement = sql::consent_insert;
        } else {
            p.bytes(*key).bytes(pg::as_bytes(e164));
        }
        p.text(to_string(r.purpose)).boolean(r.granted).integer(ms(r.at)).text(r.source).optional_text(optional_id(r.actor));
        auto rows = lease->exec(statement, p, "appending a consent record");
        if (!rows) return rows.error();
        return {};
    });
}

Result<std::optional<ConsentRecord>> PostgresStore::Impl::latest(const TenantId& tenant, const PhoneNumber& phone,
                                                                 Purpose purpose) const {
    return guarded<std::optional<ConsentRecord>>([&]() -> Result<std::optional<ConsentRecord>> {
        if (tenant.empty()) return invalid("reading consent needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::consent_latest, Params().text(tenant.value()).bytes(*key).text(to_string(purpose)),
                                "reading the latest consent record");
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<ConsentRecord>{};
        auto record = read_consent(*rows, 0, tenant);
        if (!record) return record.error();
        return std::optional<ConsentRecord>{std::move(record).value()};
    });
}

Result<void> PostgresStore::Impl::scan(const TenantId& tenant,
                                       const std::function<void(const ConsentRecord&)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning consent records needs a tenant and a visitor");
        std::int64_t after = 0;
        for (;;) {
            std::vector<ConsentRecord> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                auto rows = lease->exec(sql::consent_scan, Params().text(tenant.value()).integer(after).integer(scan_batch),
                                        "scanning consent records");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    after = int_at(*rows, r, 0);
                    auto record = read_consent(*rows, r, tenant);
                    if (!record) return record.error();
                    batch.push_back(std::move(record).value());
                }
            }
            for (const auto& record : batch) visit(record);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

Result<std::vector<ConsentRecord>> PostgresStore::Impl::records(const TenantId& tenant, const PhoneNumber& phone) const {
    return guarded<std::vector<ConsentRecord>>([&]() -> Result<std::vector<ConsentRecord>> {
        if (tenant.empty()) return invalid("reading consent records needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::consent_records_for_phone, Params().text(tenant.value()).bytes(*key),
                                "reading a number's consent records");
        if (!rows) return rows.error();
        std::vector<ConsentRecord> out;
        for (int r = 0; r < rows->size(); ++r) {
            auto record = read_consent(*rows, r, tenant);
            if (!record) return record.error();
            out.push_back(std::move(record).value());
        }
        return out;
    });
}

Result<std::size_t> PostgresStore::Impl::change_by_phone(const char* statement, const TenantId& tenant,
                                                         const PhoneNumber& phone, std::string_view action) {
    if (tenant.empty()) return invalid("erasing a number needs a tenant");
    auto key = phone_key(tenant, phone);
    if (!key) return key.error();
    auto lease = this->lease();
    if (!lease) return lease.error();
    auto rows = lease->exec(statement, Params().text(tenant.value()).bytes(*key), action);
    if (!rows) return rows.error();
    return static_cast<std::size_t>(rows->affected());
}

Result<std::size_t> PostgresStore::Impl::erase_number(const TenantId& tenant, const PhoneNumber& phone) {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        return change_by_phone(sql::consent_erase_number, tenant, phone, "erasing a number's consent records");
    });
}

// ---------------------------------------------------------------------------------------------
// ActivityStore

Result<void> PostgresStore::Impl::record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty()) return invalid("inbound activity needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        // The row is (tenant, phone_key): an encrypted number is bound to its tag.
        const std::string row_id = encrypted_ ? hex(*key) : std::string();
        auto sealed = seal(tenant, fields::activity_phone, row_id, phone.e164());
        if (!sealed) return sealed.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::activity_upsert, Params().text(tenant.value()).bytes(*key).bytes(*sealed).integer(ms(at)),
                                "recording inbound activity");
        if (!rows) return rows.error();
        return {};
    });
}

Result<std::optional<Timestamp>> PostgresStore::Impl::last_inbound(const TenantId& tenant,
                                                                   const PhoneNumber& phone) const {
    return guarded<std::optional<Timestamp>>([&]() -> Result<std::optional<Timestamp>> {
        if (tenant.empty()) return invalid("reading inbound activity needs a tenant");
        auto key = phone_key(tenant, phone);
        if (!key) return key.error();
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::activity_get, Params().text(tenant.value()).bytes(*key), "reading inbound activity");
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<Timestamp>{};
        return std::optional<Timestamp>{time_at(*rows, 0, 0)};
    });
}

Result<void> PostgresStore::Impl::scan(const TenantId& tenant,
                                       const std::function<void(const PhoneNumber&, Timestamp)>& visit) const {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty() || !visit) return invalid("scanning inbound activity needs a tenant and a visitor");
        crypto::Bytes after;  // the empty bytea sorts before every key
        for (;;) {
            std::vector<std::pair<PhoneNumber, Timestamp>> batch;
            {
                auto lease = this->lease();
                if (!lease) return lease.error();
                auto rows = lease->exec(sql::activity_scan, Params().text(tenant.value()).bytes(after).integer(scan_batch),
                                        "scanning inbound activity");
                if (!rows) return rows.error();
                for (int r = 0; r < rows->size(); ++r) {
                    auto key = rows->bytes(r, 0);
                    if (!key) return corrupt_row("inbound activity's phone key");
                    after = *key;
                    auto phone = read_phone(*rows, r, 0, 2, tenant, fields::activity_phone, encrypted_ ? hex(*key) : "");
                    if (!phone) return phone.error();
                    batch.emplace_back(std::move(phone).value(), time_at(*rows, r, 1));
                }
            }
            for (const auto& [phone, at] : batch) visit(phone, at);
            if (static_cast<std::int64_t>(batch.size()) < scan_batch) return {};
        }
    });
}

Result<bool> PostgresStore::Impl::forget(const TenantId& tenant, const PhoneNumber& phone) {
    return guarded<bool>([&]() -> Result<bool> {
        auto changed = change_by_phone(sql::activity_forget, tenant, phone, "forgetting a number's inbound activity");
        if (!changed) return changed.error();
        return *changed > 0;
    });
}

// ---------------------------------------------------------------------------------------------
// DedupStore

Result<bool> PostgresStore::Impl::remember(const TenantId& tenant, std::string_view key, Timestamp at) {
    return guarded<bool>([&]() -> Result<bool> {
        if (tenant.empty() || key.empty()) return invalid("a dedup key needs a tenant and a key");
        auto lease = this->lease();
        if (!lease) return lease.error();
        // The primary key decides across every instance: of two concurrent inserts, one waits for
        // the other's commit and then inserts nothing.
        auto rows = lease->exec(sql::dedup_insert, Params().text(tenant.value()).text(key).integer(ms(at)),
                                "remembering a webhook key");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

// ---------------------------------------------------------------------------------------------
// AuditStore

namespace {

/// A BYTEA column's bytes as a string; "" for NULL.
std::string bytes_text(const Rows& rows, int r, int c) {
    const auto bytes = rows.bytes(r, c);
    return bytes ? std::string(bytes->begin(), bytes->end()) : std::string();
}

std::optional<audit::Hash> hash_at(const Rows& rows, int r, int c) {
    const auto bytes = rows.bytes(r, c);
    if (!bytes || bytes->size() != audit::Hash{}.size()) return std::nullopt;
    audit::Hash h{};
    std::copy(bytes->begin(), bytes->end(), h.begin());
    return h;
}

}  // namespace

Result<audit::Entry> PostgresStore::Impl::read_audit_entry(const Rows& rows, int r, const TenantId& tenant) const {
    audit::Entry e;
    e.tenant = tenant;
    e.sequence = int_at(rows, r, 0);
    e.at = time_at(rows, r, 1);
    const std::string_view role = rows.text(r, 3);
    if (role != "system") {
        const auto parsed = rbac::role_from_string(role);
        if (!parsed || rows.is_null(r, 2)) return corrupt_row("audit entry's actor");
        e.actor = audit::Actor::member(UserId{bytes_text(rows, r, 2)}, *parsed);
    }
    e.action = bytes_text(rows, r, 4);
    e.target_type = bytes_text(rows, r, 5);
    e.target_id = bytes_text(rows, r, 6);
    const auto outcome = reason_from_string(rows.text(r, 7));
    if (!outcome) return corrupt_row("audit entry's outcome");
    e.outcome = *outcome;
    e.rule = bytes_text(rows, r, 8);
    e.request_id = bytes_text(rows, r, 9);
    e.policy_revision = bytes_text(rows, r, 10);
    const auto prev = hash_at(rows, r, 11);
    const auto hash = hash_at(rows, r, 12);
    if (!prev || !hash) return corrupt_row("audit entry's hash");
    e.prev_hash = *prev;
    e.hash = *hash;
    return e;
}

Result<audit::ChainState> PostgresStore::Impl::read_chain(Lease& lease, const char* statement,
                                                          const TenantId& tenant) const {
    auto rows = lease.exec(statement, Params().text(tenant.value()), "reading an audit chain");
    if (!rows) return rows.error();
    if (rows->empty()) return audit::ChainState{};
    audit::ChainState state;
    const auto head = hash_at(*rows, 0, 1);
    const auto checkpoint = hash_at(*rows, 0, 3);
    if (!head || !checkpoint) return corrupt_row("audit chain");
    state.head = {int_at(*rows, 0, 0), *head};
    if (const std::int64_t through = int_at(*rows, 0, 2); through > 0)
        state.checkpoint = audit::Checkpoint{through, *checkpoint, time_at(*rows, 0, 4), int_at(*rows, 0, 5)};
    return state;
}

Result<void> PostgresStore::Impl::append(const TenantId& tenant, std::span<const audit::Entry> entries,
                                         const audit::ChainHead& expected) {
    return guarded<void>([&]() -> Result<void> {
        if (tenant.empty()) return invalid("audit entries need a tenant");
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].tenant != tenant) return invalid("an audit entry belongs to another tenant");
            if (entries[i].sequence != expected.sequence + static_cast<std::int64_t>(i) + 1)
                return invalid("audit entry sequences must follow the head without a gap");
        }
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto stored = pg::transaction<void>(*lease, "appending audit entries", [&]() -> Result<void> {
            // The chain row is locked until commit; a tenant's first append has no row to lock, and
            // of two racing first appends the second fails on entry 1's primary key (conflict).
            auto current = read_chain(*lease, sql::audit_chain_lock, tenant);
            if (!current) return current.error();
            if (current->head != expected)
                return Error(StorageErrc::conflict, "the audit chain's head moved: another writer appended first");
            if (entries.empty()) return {};
            for (const audit::Entry& e : entries) {
                const std::optional<std::string_view> user =
                    e.actor.is_system() ? std::nullopt : std::optional<std::string_view>(e.actor.user.value());
                const std::string_view role = e.actor.role ? rbac::to_string(*e.actor.role) : "system";
                Params p;
                p.text(tenant.value()).integer(e.sequence).integer(ms(e.at));
                if (user) p.bytes(pg::as_bytes(*user));
                else p.null();
                p.text(role).bytes(pg::as_bytes(e.action)).bytes(pg::as_bytes(e.target_type));
                p.bytes(pg::as_bytes(e.target_id)).text(to_string(e.outcome)).bytes(pg::as_bytes(e.rule));
                p.bytes(pg::as_bytes(e.request_id)).bytes(pg::as_bytes(e.policy_revision)).bytes(e.prev_hash).bytes(e.hash);
                auto rows = lease->exec(sql::audit_insert, p, "appending an audit entry");
                if (!rows) return rows.error();
            }
            auto rows = lease->exec(sql::audit_chain_set_head,
                                    Params().text(tenant.value()).integer(entries.back().sequence).bytes(entries.back().hash),
                                    "moving an audit chain's head");
            if (!rows) return rows.error();
            return {};
        });
        return stored;
    });
}

Result<audit::ChainState> PostgresStore::Impl::chain(const TenantId& tenant) const {
    return guarded<audit::ChainState>([&]() -> Result<audit::ChainState> {
        if (tenant.empty()) return invalid("reading an audit chain needs a tenant");
        auto lease = this->lease();
        if (!lease) return lease.error();
        return read_chain(*lease, sql::audit_chain_get, tenant);
    });
}

Result<std::vector<audit::Entry>> PostgresStore::Impl::query(const audit::Query& q) const {
    return guarded<std::vector<audit::Entry>>([&]() -> Result<std::vector<audit::Entry>> {
        if (q.tenant.empty()) return invalid("an audit query needs a tenant");
        const bool filtered = q.from || q.until || q.actor || q.action || q.target_type || q.target_id;
        // Each shape of query has its own constant statement, so the indexes serve it.
        Params p;
        p.text(q.tenant.value()).integer(q.after_sequence);
        const char* statement = sql::audit_read;
        if (!filtered) {
            p.integer(clamp_limit(q.limit));
        } else {
            if (q.target_type && q.target_id) statement = sql::audit_query_by_target;
            else if (q.actor) statement = sql::audit_query_by_actor;
            else statement = sql::audit_query;
            auto optional_bytes = [&p](const std::optional<std::string_view>& v) {
                if (v) p.bytes(pg::as_bytes(*v));
                else p.null();
            };
            auto view = [](const std::optional<std::string>& v) {
                return v ? std::optional<std::string_view>(*v) : std::nullopt;
            };
            p.optional_integer(optional_ms(q.from)).optional_integer(optional_ms(q.until));
            optional_bytes(q.actor ? std::optional<std::string_view>(q.actor->value()) : std::nullopt);
            optional_bytes(view(q.action));
            optional_bytes(view(q.target_type));
            optional_bytes(view(q.target_id));
            p.integer(clamp_limit(q.limit));
        }
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(statement, p, "reading audit entries");
        if (!rows) return rows.error();
        std::vector<audit::Entry> out;
        out.reserve(static_cast<std::size_t>(rows->size()));
        for (int r = 0; r < rows->size(); ++r) {
            auto entry = read_audit_entry(*rows, r, q.tenant);
            if (!entry) return entry.error();
            out.push_back(std::move(entry).value());
        }
        return out;
    });
}

Result<std::size_t> PostgresStore::Impl::scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                                              const std::function<bool(const audit::EntryView&)>& visit) const {
    return guarded<std::size_t>([&]() -> Result<std::size_t> {
        if (tenant.empty()) return invalid("an audit scan needs a tenant");
        Rows rows;
        {
            auto lease = this->lease();
            if (!lease) return lease.error();
            auto read = lease->exec(sql::audit_read,
                                    Params().text(tenant.value()).integer(after_sequence).integer(clamp_limit(limit)),
                                    "reading audit entries");
            if (!read) return read.error();
            rows = std::move(read).value();
        }
        // The rows outlive the connection: the visitor runs with none held.
        audit::EntryView v;
        v.tenant = tenant.value();
        std::size_t handed = 0;
        std::array<std::string, 7> texts;  // the BYTEA columns, decoded: the views point into them
        constexpr std::array<int, 7> text_columns{2, 4, 5, 6, 8, 9, 10};
        for (int r = 0; r < rows.size(); ++r) {
            const auto prev = rows.bytes(r, 11).value_or(std::vector<std::uint8_t>{});
            const auto hash = rows.bytes(r, 12).value_or(std::vector<std::uint8_t>{});
            for (std::size_t i = 0; i < texts.size(); ++i) texts[i] = bytes_text(rows, r, text_columns[i]);
            v.sequence = int_at(rows, r, 0);
            v.at = time_at(rows, r, 1);
            v.actor_user = texts[0];
            v.actor_role = rows.text(r, 3);
            v.action = texts[1];
            v.target_type = texts[2];
            v.target_id = texts[3];
            v.outcome = rows.text(r, 7);
            v.rule = texts[4];
            v.request_id = texts[5];
            v.policy_revision = texts[6];
            v.prev_hash = prev;
            v.hash = hash;
            ++handed;
            if (!visit(v)) return handed;
        }
        return handed;
    });
}

Result<std::int64_t> PostgresStore::Impl::purge_through(const TenantId& tenant, std::int64_t through) {
    return guarded<std::int64_t>([&]() -> Result<std::int64_t> {
        if (tenant.empty()) return invalid("purging audit entries needs a tenant");
        auto lease = this->lease();
        if (!lease) return lease.error();
        return pg::transaction<std::int64_t>(*lease, "purging audit entries", [&]() -> Result<std::int64_t> {
            // Lock the chain first, as append does, so that purges and appends queue in one order.
            if (auto locked = read_chain(*lease, sql::audit_chain_lock, tenant); !locked) return locked.error();
            auto entry = lease->exec(sql::audit_entry_get, Params().text(tenant.value()).integer(through),
                                     "reading the last audit entry to purge");
            if (!entry) return entry.error();
            if (entry->empty())
                return Error(StorageErrc::not_found, "no audit entry " + std::to_string(through) + " to purge through");
            const auto hash = hash_at(*entry, 0, 0);
            if (!hash) return corrupt_row("audit entry's hash");
            auto deleted = lease->exec(sql::audit_delete_through, Params().text(tenant.value()).integer(through),
                                       "purging audit entries");
            if (!deleted) return deleted.error();
            const std::int64_t count = deleted->affected();
            Params p;
            p.text(tenant.value()).integer(through).bytes(*hash).integer(int_at(*entry, 0, 1)).integer(count);
            auto moved = lease->exec(sql::audit_chain_set_checkpoint, p, "recording an audit purge checkpoint");
            if (!moved) return moved.error();
            if (moved->affected() == 0) return corrupt_row("audit chain");
            return count;
        });
    });
}

// ---------------------------------------------------------------------------------------------
// RequestStore

Result<privacy::SubjectRequest> PostgresStore::Impl::read_request(const Rows& rows, int r,
                                                                  const TenantId& tenant) const {
    const auto type = privacy::request_type_from_string(rows.text(r, 1));
    const auto status = privacy::request_status_from_string(rows.text(r, 7));
    if (!type || !status) return corrupt_row("data-subject request's type or status");
    privacy::SubjectRequest q;
    q.tenant = tenant;
    q.id = text_at(rows, r, 0);
    q.type = *type;
    q.subject = text_at(rows, r, 2);
    q.received_at = time_at(rows, r, 3);
    q.acknowledge_by = time_at(rows, r, 4);
    q.due_by = time_at(rows, r, 5);
    q.extended = rows.boolean(r, 6);
    q.status = *status;
    q.handled_by = optional_id_at<UserId>(rows, r, 8);
    if (!rows.is_null(r, 9)) q.acknowledged_at = time_at(rows, r, 9);
    if (!rows.is_null(r, 10)) q.closed_at = time_at(rows, r, 10);
    return q;
}

Result<void> PostgresStore::Impl::put(const privacy::SubjectRequest& q) {
    return guarded<void>([&]() -> Result<void> {
        if (q.tenant.empty() || q.id.empty()) return invalid("a data-subject request needs a tenant and an id");
        Params p;
        p.text(q.tenant.value()).text(q.id).text(privacy::to_string(q.type)).text(q.subject);
        p.integer(ms(q.received_at)).integer(ms(q.acknowledge_by)).integer(ms(q.due_by)).boolean(q.extended);
        p.text(privacy::to_string(q.status)).optional_text(optional_id(q.handled_by));
        p.optional_integer(optional_ms(q.acknowledged_at)).optional_integer(optional_ms(q.closed_at));
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::request_upsert, p, "storing a data-subject request");
        if (!rows) return rows.error();
        return {};
    });
}

Result<std::optional<privacy::SubjectRequest>> PostgresStore::Impl::get(const TenantId& tenant,
                                                                        std::string_view id) const {
    return guarded<std::optional<privacy::SubjectRequest>>([&]() -> Result<std::optional<privacy::SubjectRequest>> {
        if (tenant.empty() || id.empty()) return invalid("reading a data-subject request needs a tenant and an id");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(sql::request_get, Params().text(tenant.value()).text(id), "reading a data-subject request");
        if (!rows) return rows.error();
        if (rows->empty()) return std::optional<privacy::SubjectRequest>{};
        auto request = read_request(*rows, 0, tenant);
        if (!request) return request.error();
        return std::optional<privacy::SubjectRequest>{std::move(request).value()};
    });
}

Result<std::vector<privacy::SubjectRequest>> PostgresStore::Impl::list(const TenantId& tenant, const Page& page,
                                                                       bool open_only) const {
    return guarded<std::vector<privacy::SubjectRequest>>([&]() -> Result<std::vector<privacy::SubjectRequest>> {
        if (tenant.empty()) return invalid("listing data-subject requests needs a tenant");
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(
            sql::request_list,
            Params().text(tenant.value()).text(page.after).integer(clamp_limit(page.limit)).boolean(open_only),
            "listing data-subject requests");
        if (!rows) return rows.error();
        std::vector<privacy::SubjectRequest> out;
        for (int r = 0; r < rows->size(); ++r) {
            auto request = read_request(*rows, r, tenant);
            if (!request) return request.error();
            out.push_back(std::move(request).value());
        }
        return out;
    });
}

// ---------------------------------------------------------------------------------------------
// crypto::EncryptedFieldSource: the encrypted columns, for a re-encryption pass

Result<std::vector<SealedRow>> PostgresStore::Impl::sealed_rows(const SealedTable& table, const SealedCursor& from,
                                                                std::size_t limit) const {
    Params p;
    if (table.key != RowKey::setting) {
        p.text(from.tenant);
        if (table.key == RowKey::text_id) p.text(from.key);
        else if (table.key == RowKey::sequence) p.integer(parse_number<std::int64_t>(from.key).value_or(0));
        else p.bytes(pg::as_bytes(from.key));
        p.integer(clamp_limit(limit));
    }
    auto lease = this->lease();
    if (!lease) return lease.error();
    auto rows = lease->exec(table.scan, p, "scanning encrypted columns");
    if (!rows) return rows.error();
    std::vector<SealedRow> out;
    for (int r = 0; r < rows->size(); ++r) {
        SealedRow row;
        int first_value = 2;
        if (table.key == RowKey::setting) {
            row.tenant = store_tenant_id;
            row.row_id = key_check_setting;
            first_value = 0;
        } else if (table.key == RowKey::tag) {
            row.tenant = text_at(*rows, r, 0);
            const auto tag = rows->bytes(r, 1);
            if (!tag) return corrupt_row("inbound activity's phone tag");
            row.key.assign(tag->begin(), tag->end());
            row.row_id = hex(*tag);
        } else {
            row.tenant = text_at(*rows, r, 0);
            row.key = text_at(*rows, r, 1);
            row.row_id = row.key;
        }
        for (std::size_t c = 0; c < table.width; ++c) {
            // A value that cannot be read is handed over empty: decrypting it fails, and the pass
            // reports it instead of skipping it silently.
            if (auto bytes = rows->bytes(r, first_value + static_cast<int>(c))) row.values[c] = std::move(*bytes);
        }
        out.push_back(std::move(row));
    }
    return out;
}

Result<std::vector<crypto::EncryptedField>> PostgresStore::Impl::next_batch(std::string_view cursor,
                                                                            std::size_t limit,
                                                                            crypto::KeyId primary) {
    return guarded<std::vector<crypto::EncryptedField>>([&]() -> Result<std::vector<crypto::EncryptedField>> {
        std::vector<crypto::EncryptedField> out;
        if (!encrypted_ || limit == 0) return out;
        std::optional<SealedCursor> after;  // the last field handed out before; none: from the start
        if (!cursor.empty()) {
            after = decode_cursor(cursor);
            if (!after) return invalid("not a cursor of this store's encrypted columns");
        }
        // Rows are read in chunks of at least two, so that a chunk that starts again at the
        // cursor's row always moves on.
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
                    const bool seen_row = resume && from.at(row);
                    for (std::size_t c = 0; c < table.width; ++c) {
                        if (seen_row && c <= from.column) continue;
                        const crypto::Bytes& value = row.values[c];
                        if (const auto id = crypto::FieldCipher::key_id(value); id && *id == primary) continue;
                        SealedCursor here{t, row.tenant, row.key, c};
                        out.push_back({TenantId{row.tenant}, std::string(table.columns[c].field.table),
                                       std::string(table.columns[c].field.column), row.row_id, value,
                                       encode_cursor(here)});
                        if (out.size() == limit) return out;
                    }
                }
                if (table.key == RowKey::setting || rows->size() < chunk) break;
                // Go on from the last row read, every column of which is done.
                const SealedRow& last = rows->back();
                from.tenant = last.tenant;
                from.key = last.key;
                from.column = table.width;
                resume = true;
            }
        }
        return out;
    });
}

Result<bool> PostgresStore::Impl::replace(const crypto::EncryptedField& field, const crypto::Bytes& replacement) {
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
        Params p;
        switch (table->key) {
            case RowKey::setting: p.bytes(field.ciphertext).bytes(replacement); break;
            case RowKey::text_id:
                p.text(field.tenant.value()).text(field.row_id).bytes(field.ciphertext).bytes(replacement);
                break;
            case RowKey::sequence: {
                const auto sequence = parse_number<std::int64_t>(field.row_id);
                if (!sequence) return invalid("not a row of this store's encrypted columns");
                p.text(field.tenant.value()).integer(*sequence).bytes(field.ciphertext).bytes(replacement);
                break;
            }
            case RowKey::tag: {
                const auto tag = unhex(field.row_id);
                if (!tag || tag->size() != Tag{}.size()) return invalid("not a row of this store's encrypted columns");
                p.text(field.tenant.value()).bytes(*tag).bytes(field.ciphertext).bytes(replacement);
                break;
            }
        }
        auto lease = this->lease();
        if (!lease) return lease.error();
        auto rows = lease->exec(column->replace, p, "replacing an encrypted value");
        if (!rows) return rows.error();
        return rows->affected() > 0;
    });
}

// -------------------------------------------------------------------------------------------------
// PostgresStore

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& conninfo, PostgresOptions options) {
    return guarded<std::unique_ptr<PostgresStore>>([&]() -> Result<std::unique_ptr<PostgresStore>> {
        auto impl = Impl::open(conninfo, options);
        if (!impl) return impl.error();
        return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl).value()));
    });
}

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), retention_(detail::make_pg_retention(impl_->retention_handle(), *this)) {}
PostgresStore::~PostgresStore() = default;

ContactStore& PostgresStore::contacts() { return *impl_; }
MessageStore& PostgresStore::messages() { return *impl_; }
OptOutStore& PostgresStore::optouts() { return *impl_; }
ConsentStore& PostgresStore::consents() { return *impl_; }
ActivityStore& PostgresStore::activity() { return *impl_; }
DedupStore& PostgresStore::dedup() { return *impl_; }
AuditStore& PostgresStore::audit() { return *impl_; }
RequestStore& PostgresStore::requests() { return *impl_; }
bool PostgresStore::encrypted() const noexcept { return impl_->encrypted(); }
crypto::EncryptedFieldSource& PostgresStore::encrypted_fields() { return *impl_; }
retention::RetentionStores& PostgresStore::retention() noexcept { return *retention_; }

}  // namespace heroshhi::storage
