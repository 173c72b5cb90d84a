// heroshhi — the SQLite store's retention ports (issue 6): accounts, the sweep journal, analytics
// aggregates and the retention targets over the library's own tables (schema version 4).
//
// The rules of sqlite_store.cpp hold here too: every SQL text is a constant and values reach
// SQLite only through sqlite3_bind_*; a batch, the analytics it folds and the sweep's progress
// commit in one transaction; no exception leaves a port method.
#include "detail/sqlite_retention.hpp"

#include <sqlite3.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/retention_cursor.hpp"
#include "detail/guarded.hpp"
#include <heroshhi/storage/errors.hpp>

namespace heroshhi::storage::detail {
namespace {

using retention::Batch;
using retention::Candidate;
using retention::CandidatePage;
using retention::Change;
using retention::Selection;

// A day number (days since 1970-01-01 UTC) from Unix milliseconds, rounding down also before 1970.
#define HEROSHHI_DAY_OF(ms) "((" ms " - ((" ms " % 86400000) + 86400000) % 86400000) / 86400000)"
// The lead's source for analytics, "unknown" when empty.
// A lead's source as aggregates keep it: one of the policy's four tags, "unknown" when empty,
// "other" for anything else (a host may write free text there, and aggregates are kept forever).
#define HEROSHHI_SOURCE_OF(col)                                                                      \
    "(CASE WHEN " col " IN ('direct', 'integration', 'webhook', 'whatsapp') THEN " col " WHEN " col \
    " = '' THEN 'unknown' ELSE 'other' END)"
// Whether a number belongs to a lead of the tenant under legal hold (served by contacts_held_by_phone).
#define HEROSHHI_HELD_PHONE(tenant, phone)                                                          \
    "EXISTS (SELECT 1 FROM contacts h WHERE h.tenant = " tenant " AND h.phone_key = " phone \
    " AND h.legal_hold <> 0)"

enum class Q : std::size_t {
    begin_immediate,
    commit,
    rollback,
    account_upsert,
    account_get,
    tenant_next,
    journal_get,
    journal_put,
    journal_delete,
    aggregate_add,
    aggregate_list,
    fold_lead,
    fold_messages_of_contact,
    fold_message,
    lead_expired_page,
    lead_soft_deleted_page,
    lead_all_page,
    lead_soft_delete,
    lead_qualifies_soft_deleted,
    lead_qualifies_all,
    lead_delete,
    messages_of_contact_delete,
    message_expired_page,
    message_all_page,
    message_qualifies_expired,
    message_qualifies_all,
    message_delete,
    consent_all_page,
    consent_delete,
    activity_all_page,
    activity_delete,
    request_all_page,
    request_delete,
    webhook_key_all_page,
    webhook_key_expired_page,
    webhook_key_delete,
    webhook_key_delete_expired,
    count_
};

const char* sql_text(Q q) noexcept {
    switch (q) {
        case Q::begin_immediate: return "BEGIN IMMEDIATE";
        case Q::commit: return "COMMIT";
        case Q::rollback: return "ROLLBACK";
        case Q::account_upsert:
            return "INSERT INTO accounts (tenant, opened_at_ms, closed_at_ms, legal_hold) VALUES (?1, ?2, ?3, ?4)"
                   " ON CONFLICT (tenant) DO UPDATE SET opened_at_ms = excluded.opened_at_ms,"
                   " closed_at_ms = excluded.closed_at_ms, legal_hold = excluded.legal_hold";
        case Q::account_get: return "SELECT opened_at_ms, closed_at_ms, legal_hold FROM accounts WHERE tenant = ?1";
        case Q::tenant_next:
            // Each part is one index seek; a tenant with nothing but opt-out events is not listed.
            return "SELECT min(t) FROM ("
                   " SELECT min(tenant) AS t FROM accounts WHERE tenant > ?1"
                   " UNION ALL SELECT min(tenant) FROM contacts WHERE tenant > ?1"
                   " UNION ALL SELECT min(tenant) FROM consent_records WHERE tenant > ?1"
                   " UNION ALL SELECT min(tenant) FROM inbound_activity WHERE tenant > ?1"
                   " UNION ALL SELECT min(tenant) FROM dedup_keys WHERE tenant > ?1"
                   " UNION ALL SELECT min(tenant) FROM audit_entries WHERE tenant > ?1)";
        case Q::journal_get: return "SELECT state FROM retention_sweeps WHERE sweeper = ?1";
        case Q::journal_put:
            return "INSERT INTO retention_sweeps (sweeper, state) VALUES (?1, ?2)"
                   " ON CONFLICT (sweeper) DO UPDATE SET state = excluded.state";
        case Q::journal_delete: return "DELETE FROM retention_sweeps WHERE sweeper = ?1";
        case Q::aggregate_add:
            return "INSERT INTO analytics_daily (tenant, day, event_type, source, count) VALUES (?1, ?2, ?3, ?4, ?5)"
                   " ON CONFLICT (tenant, day, event_type, source) DO UPDATE SET count = count + excluded.count";
        case Q::aggregate_list:
            return "SELECT day, event_type, source, count FROM analytics_daily"
                   " WHERE tenant = ?1 AND day >= ?2 AND day < ?3 ORDER BY day, event_type, source";
        case Q::fold_lead:
            return "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
                   " SELECT tenant, " HEROSHHI_DAY_OF("created_at_ms") ", 'lead', " HEROSHHI_SOURCE_OF("source") ", 1"
                   " FROM contacts WHERE tenant = ?1 AND id = ?2 AND analytics_objection = 0 AND restricted = 0"
                   " ON CONFLICT (tenant, day, event_type, source) DO UPDATE SET count = count + excluded.count";
        case Q::fold_messages_of_contact:
            return "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
                   " SELECT m.tenant, " HEROSHHI_DAY_OF("m.created_at_ms") ", 'message.' || m.direction, "
                   HEROSHHI_SOURCE_OF("c.source") ", count(*)"
                   " FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.contact_id = ?2 AND c.analytics_objection = 0 AND c.restricted = 0 GROUP BY 1, 2, 3, 4"
                   " ON CONFLICT (tenant, day, event_type, source) DO UPDATE SET count = count + excluded.count";
        case Q::fold_message:
            return "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
                   " SELECT m.tenant, " HEROSHHI_DAY_OF("m.created_at_ms") ", 'message.' || m.direction, "
                   HEROSHHI_SOURCE_OF("c.source") ", 1"
                   " FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.id = ?2 AND c.analytics_objection = 0 AND c.restricted = 0"
                   " ON CONFLICT (tenant, day, event_type, source) DO UPDATE SET count = count + excluded.count";
        case Q::lead_expired_page:
            // Last activity: creation, update, or the newest message (messages_by_contact serves it).
            return "SELECT c.id, max(c.created_at_ms, c.updated_at_ms, coalesce((SELECT max(m.created_at_ms)"
                   " FROM messages m WHERE m.tenant = c.tenant AND m.contact_id = c.id), c.created_at_ms)),"
                   " c.legal_hold, 0 FROM contacts c"
                   " WHERE c.tenant = ?1 AND c.id > ?2 AND c.deleted_at_ms IS NULL"
                   " AND c.created_at_ms <= ?3 AND c.updated_at_ms <= ?3 AND NOT EXISTS (SELECT 1 FROM messages m"
                   " WHERE m.tenant = c.tenant AND m.contact_id = c.id AND m.created_at_ms > ?3)"
                   " ORDER BY c.id LIMIT ?4";
        case Q::lead_soft_deleted_page:
            return "SELECT c.id, c.deleted_at_ms, c.legal_hold, (SELECT count(*) FROM messages m"
                   " WHERE m.tenant = c.tenant AND m.contact_id = c.id) FROM contacts c"
                   " WHERE c.tenant = ?1 AND c.id > ?2 AND c.deleted_at_ms IS NOT NULL AND c.deleted_at_ms <= ?3"
                   " ORDER BY c.id LIMIT ?4";
        case Q::lead_all_page:
            return "SELECT c.id, c.created_at_ms, c.legal_hold, (SELECT count(*) FROM messages m"
                   " WHERE m.tenant = c.tenant AND m.contact_id = c.id) FROM contacts c"
                   " WHERE c.tenant = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?4";
        case Q::lead_soft_delete:
            return "UPDATE contacts SET deleted_at_ms = ?3 WHERE tenant = ?1 AND id = ?2 AND deleted_at_ms IS NULL"
                   " AND legal_hold = 0 AND created_at_ms <= ?4 AND updated_at_ms <= ?4 AND NOT EXISTS"
                   " (SELECT 1 FROM messages m WHERE m.tenant = ?1 AND m.contact_id = ?2 AND m.created_at_ms > ?4)";
        case Q::lead_qualifies_soft_deleted:
            return "SELECT 1 FROM contacts WHERE tenant = ?1 AND id = ?2 AND legal_hold = 0"
                   " AND deleted_at_ms IS NOT NULL AND deleted_at_ms <= ?3";
        case Q::lead_qualifies_all: return "SELECT 1 FROM contacts WHERE tenant = ?1 AND id = ?2 AND legal_hold = 0";
        case Q::lead_delete: return "DELETE FROM contacts WHERE tenant = ?1 AND id = ?2";
        case Q::messages_of_contact_delete: return "DELETE FROM messages WHERE tenant = ?1 AND contact_id = ?2";
        case Q::message_expired_page:
            return "SELECT m.id, m.created_at_ms, c.legal_hold, 0 FROM messages m"
                   " JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.id > ?2 AND m.created_at_ms <= ?3 AND c.deleted_at_ms IS NULL"
                   " ORDER BY m.id LIMIT ?4";
        case Q::message_all_page:
            return "SELECT m.id, m.created_at_ms, c.legal_hold, 0 FROM messages m"
                   " JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?4";
        case Q::message_qualifies_expired:
            return "SELECT 1 FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.id = ?2 AND m.created_at_ms <= ?3 AND c.deleted_at_ms IS NULL"
                   " AND c.legal_hold = 0";
        case Q::message_qualifies_all:
            return "SELECT 1 FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
                   " WHERE m.tenant = ?1 AND m.id = ?2 AND c.legal_hold = 0";
        case Q::message_delete: return "DELETE FROM messages WHERE tenant = ?1 AND id = ?2";
        case Q::consent_all_page:
            return "SELECT r.sequence, r.at_ms, " HEROSHHI_HELD_PHONE("r.tenant", "r.phone_key") ", 0"
                   " FROM consent_records r WHERE r.tenant = ?1 AND r.sequence > ?2 ORDER BY r.sequence LIMIT ?4";
        case Q::consent_delete:
            return "DELETE FROM consent_records WHERE tenant = ?1 AND sequence = ?2 AND NOT "
                   HEROSHHI_HELD_PHONE("?1", "consent_records.phone_key");
        case Q::activity_all_page:
            return "SELECT a.phone_key, a.last_inbound_ms, " HEROSHHI_HELD_PHONE("a.tenant", "a.phone_key") ", 0"
                   " FROM inbound_activity a WHERE a.tenant = ?1 AND a.phone_key > ?2 ORDER BY a.phone_key LIMIT ?4";
        case Q::activity_delete:
            return "DELETE FROM inbound_activity WHERE tenant = ?1 AND phone_key = ?2 AND NOT "
                   HEROSHHI_HELD_PHONE("?1", "?2");
        case Q::request_all_page:
            return "SELECT id, received_at_ms, 0, 0 FROM subject_requests WHERE tenant = ?1 AND id > ?2"
                   " ORDER BY id LIMIT ?4";
        case Q::request_delete: return "DELETE FROM subject_requests WHERE tenant = ?1 AND id = ?2";
        case Q::webhook_key_all_page:
            return "SELECT dedup_key, seen_at_ms, 0, 0 FROM dedup_keys WHERE tenant = ?1 AND dedup_key > ?2"
                   " ORDER BY dedup_key LIMIT ?4";
        case Q::webhook_key_expired_page:
            return "SELECT dedup_key, seen_at_ms, 0, 0 FROM dedup_keys WHERE tenant = ?1 AND dedup_key > ?2"
                   " AND seen_at_ms <= ?3 ORDER BY dedup_key LIMIT ?4";
        case Q::webhook_key_delete: return "DELETE FROM dedup_keys WHERE tenant = ?1 AND dedup_key = ?2";
        case Q::webhook_key_delete_expired:
            return "DELETE FROM dedup_keys WHERE tenant = ?1 AND dedup_key = ?2 AND seen_at_ms <= ?3";
        case Q::count_: break;
    }
    return "";
}

#undef HEROSHHI_DAY_OF
#undef HEROSHHI_SOURCE_OF
#undef HEROSHHI_HELD_PHONE

// ---------------------------------------------------------------------------------------------
// Errors, binding, columns (the same conventions as sqlite_store.cpp)

StorageErrc storage_errc(int rc) noexcept {
    switch (rc & 0xff) {
        case SQLITE_NOTADB: return StorageErrc::not_a_database;
        case SQLITE_CORRUPT: return StorageErrc::corrupt;
        case SQLITE_READONLY: return StorageErrc::read_only;
        case SQLITE_FULL: return StorageErrc::full;
        case SQLITE_TOOBIG: return StorageErrc::invalid_argument;
        case SQLITE_CONSTRAINT: return StorageErrc::conflict;
        default: return StorageErrc::unavailable;
    }
}

int bind_one(sqlite3_stmt* s, int i, std::string_view v) {
    return sqlite3_bind_text64(s, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
int bind_one(sqlite3_stmt* s, int i, std::int64_t v) { return sqlite3_bind_int64(s, i, v); }

/// A key stored as a BLOB: in an encrypted file, phone_key holds the number's blind-index tag.
struct BlobKey {
    std::string bytes;
};
int bind_one(sqlite3_stmt* s, int i, const BlobKey& v) {
    return sqlite3_bind_blob64(s, i, v.bytes.data(), v.bytes.size(), SQLITE_TRANSIENT);
}
int bind_one(sqlite3_stmt* s, int i, const std::optional<std::int64_t>& v) {
    return v ? sqlite3_bind_int64(s, i, *v) : sqlite3_bind_null(s, i);
}

/// Binds ?1, ?2, ... in order, skipping values past the statement's last parameter (statements of
/// one family share an argument list; some leave the cutoff or limit out).
template <class... Args>
int bind_all(sqlite3_stmt* s, const Args&... args) {
    const int count = sqlite3_bind_parameter_count(s);
    int index = 0;
    int rc = SQLITE_OK;
    ((rc = (rc == SQLITE_OK && ++index <= count) ? bind_one(s, index, args) : rc), ...);
    return rc;
}

std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}
std::int64_t column_int(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }

/// A candidate's id as text: a BLOB key (a blind-index tag) is written "x" and its hex digits, so
/// that it reads back as the same BLOB (key_cursor); text and integers as they are.
std::string column_id(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) != SQLITE_BLOB) return column_text(s, i);
    static constexpr char digits[] = "0123456789abcdef";
    const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(s, i));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
    std::string out = "x";
    for (std::size_t k = 0; k < n; ++k) {
        out += digits[p[k] >> 4];
        out += digits[p[k] & 15];
    }
    return out;
}

/// The BLOB key an id written by column_id stands for; nullopt if it is not "x" + hex.
std::optional<BlobKey> blob_cursor(std::string_view id) {
    if (id.size() < 1 || id[0] != 'x' || id.size() % 2 == 0) return std::nullopt;
    BlobKey key;
    for (std::size_t k = 1; k + 1 < id.size(); k += 2) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(id.data() + k, id.data() + k + 2, v, 16);
        if (ec != std::errc{} || end != id.data() + k + 2) return std::nullopt;
        key.bytes += static_cast<char>(v);
    }
    return key;
}

using detail::numeric_cursor;

std::int64_t clamp_limit(std::size_t n) noexcept {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, std::numeric_limits<std::int64_t>::max()));
}

// ---------------------------------------------------------------------------------------------
// The connection: statements, transactions, errors

class Connection {
public:
    explicit Connection(SqliteHandle h) : h_(h) { statements_.fill(nullptr); }
    ~Connection() {
        for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    std::mutex& mutex() const noexcept { return h_.mutex; }

    /// A cached statement, reset and unbound again when the Use goes out of scope.
    class Use {
    public:
        explicit Use(sqlite3_stmt* s) noexcept : s_(s) {}
        Use(Use&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;
        Use& operator=(Use&&) = delete;
        ~Use() {
            if (s_ != nullptr) {
                sqlite3_reset(s_);
                sqlite3_clear_bindings(s_);
            }
        }
        sqlite3_stmt* get() const noexcept { return s_; }

    private:
        sqlite3_stmt* s_;
    };

    Result<Use> statement(Q q) const {
        sqlite3_stmt*& slot = statements_[static_cast<std::size_t>(q)];
        if (slot == nullptr) {
            sqlite3_stmt* raw = nullptr;
            const int rc = sqlite3_prepare_v3(h_.db, sql_text(q), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
            if (rc != SQLITE_OK) {
                sqlite3_finalize(raw);
                return failure(rc, "preparing a retention statement");
            }
            slot = raw;
        }
        return Use(slot);
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    template <class... Args>
    Result<std::int64_t> exec(Q q, std::string_view action, const Args&... args) const {
        auto st = statement(q);
        if (!st) return st.error();
        int rc = bind_all(st->get(), args...);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc != SQLITE_DONE) return failure(rc, action);
        return static_cast<std::int64_t>(sqlite3_changes64(h_.db));
    }

    /// Runs a query and reports whether it returned a row.
    template <class... Args>
    Result<bool> exists(Q q, std::string_view action, const Args&... args) const {
        auto st = statement(q);
        if (!st) return st.error();
        int rc = bind_all(st->get(), args...);
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        return failure(rc, action);
    }

    Error failure(int rc, std::string_view action) const {
        std::string detail(action);
        detail.append(" in '").append(h_.path).append("' failed: ").append(sqlite3_errmsg(h_.db));
        detail.append(" (SQLite code ").append(std::to_string(rc)).append(")");
        return Error(storage_errc(rc), std::move(detail));
    }

    Result<void> writable() const {
        if (!h_.read_only) return {};
        return Error(StorageErrc::read_only, "'" + h_.path + "' was opened read-only");
    }

    /// Commits on commit(); rolls back in the destructor otherwise. The caller holds the mutex.
    class Transaction {
    public:
        explicit Transaction(const Connection& c) noexcept : c_(c) {}
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        ~Transaction() {
            if (active_ && sqlite3_get_autocommit(c_.h_.db) == 0)
                if (auto st = c_.statement(Q::rollback)) sqlite3_step(st->get());
        }
        Result<void> begin() {
            auto done = c_.exec(Q::begin_immediate, "starting a transaction");
            if (!done) return done.error();
            active_ = true;
            return {};
        }
        Result<void> commit() {
            auto done = c_.exec(Q::commit, "committing a transaction");
            if (!done) return done.error();
            active_ = false;
            return {};
        }

    private:
        const Connection& c_;
        bool active_ = false;
    };

private:
    SqliteHandle h_;
    mutable std::array<sqlite3_stmt*, static_cast<std::size_t>(Q::count_)> statements_{};
};

/// Reads a page of candidates: columns id (text or integer), since (ms), held (0/1), dependents.
/// The caller holds the mutex.
template <class After>
Result<CandidatePage> read_page(const Connection& c, Q q, const TenantId& tenant, const After& after,
                                Timestamp cutoff, std::size_t limit, std::string_view previous) {
    auto st = c.statement(q);
    if (!st) return st.error();
    int rc = bind_all(st->get(), std::string_view(tenant.value()), after, to_unix_ms(cutoff), clamp_limit(limit));
    CandidatePage page;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st->get());
        if (rc != SQLITE_ROW) break;
        page.rows.push_back(Candidate{column_id(st->get(), 0), from_unix_ms(column_int(st->get(), 1)),
                                      column_int(st->get(), 2) != 0, column_int(st->get(), 3)});
    }
    if (rc != SQLITE_DONE) return c.failure(rc, "listing retention candidates");
    page.more = page.rows.size() == limit && limit > 0;
    page.next = page.rows.empty() ? std::string(previous) : page.rows.back().id;
    return page;
}

Result<std::int64_t> count_pages(const retention::Target& target, const TenantId& tenant, Selection selection,
                                 Timestamp cutoff) {
    std::int64_t n = 0;
    std::string after;
    for (;;) {
        auto page = target.candidates(tenant, selection, cutoff, after, 4096);
        if (!page) return page.error();
        n += static_cast<std::int64_t>(page->rows.size());
        if (!page->more) return n;
        after = page->next;
    }
}

/// The shared shape of every target: checks, locking, one transaction per batch with the journal.
class TargetBase : public retention::Target {
public:
    explicit TargetBase(const Connection& c) : c_(c) {}

    Result<std::int64_t> count(const TenantId& tenant, Selection selection, Timestamp cutoff) const override {
        return count_pages(*this, tenant, selection, cutoff);
    }
    Result<Change> soft_delete(const Batch& b) override {
        return in_batch(b, [&](const std::string& id, Change& change) { return soft_delete_one(b, id, change); });
    }
    Result<Change> hard_delete(const Batch& b) override {
        return in_batch(b, [&](const std::string& id, Change& change) { return hard_delete_one(b, id, change); });
    }

protected:
    /// Default: this target has no soft-deleted state, so nothing qualifies.
    virtual Result<void> soft_delete_one(const Batch&, const std::string&, Change&) { return {}; }
    virtual Result<void> hard_delete_one(const Batch& b, const std::string& id, Change& change) = 0;

    template <class After>
    Result<CandidatePage> page(Q q, const TenantId& tenant, const After& after, Timestamp cutoff, std::size_t limit,
                               std::string_view previous) const {
        return guarded<CandidatePage>([&]() -> Result<CandidatePage> {
            if (tenant.empty()) return Error(StorageErrc::invalid_argument, "listing candidates needs a tenant");
            std::lock_guard lock(c_.mutex());
            return read_page(c_, q, tenant, after, cutoff, limit, previous);
        });
    }

    const Connection& c_;

private:
    template <class Each>
    Result<Change> in_batch(const Batch& b, Each each) {
        return guarded<Change>([&]() -> Result<Change> {
            if (b.tenant.empty()) return Error(StorageErrc::invalid_argument, "a retention batch needs a tenant");
            std::lock_guard lock(c_.mutex());
            if (auto ok = c_.writable(); !ok) return ok.error();
            Connection::Transaction tx(c_);
            if (auto ok = tx.begin(); !ok) return ok.error();
            Change change;
            for (const std::string& id : b.ids)
                if (auto ok = each(id, change); !ok) return ok.error();
            if (!b.sweeper.empty()) {  // empty outside a sweep: nothing to save
                auto saved = c_.exec(Q::journal_put, "saving the sweep's progress", b.sweeper, b.progress);
                if (!saved) return saved.error();
            }
            if (auto ok = tx.commit(); !ok) return ok.error();
            change.progress_saved = !b.sweeper.empty();
            return change;
        });
    }
};

// ---------------------------------------------------------------------------------------------
// The targets

class Contacts final : public TargetBase {
public:
    using TargetBase::TargetBase;
    std::string_view name() const noexcept override { return "contacts"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        const Q q = sel == Selection::expired        ? Q::lead_expired_page
                    : sel == Selection::soft_deleted ? Q::lead_soft_deleted_page
                                                     : Q::lead_all_page;
        return page(q, tenant, after, cutoff, limit, after);
    }

private:
    Result<void> soft_delete_one(const Batch& b, const std::string& id, Change& change) override {
        if (b.selection != Selection::expired) return {};
        auto n = c_.exec(Q::lead_soft_delete, "soft-deleting a lead", std::string_view(b.tenant.value()),
                         std::string_view(id), to_unix_ms(b.at), to_unix_ms(b.cutoff));
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }

    Result<void> hard_delete_one(const Batch& b, const std::string& id, Change& change) override {
        const std::string_view tenant = b.tenant.value();
        Result<bool> qualifies = false;
        if (b.selection == Selection::soft_deleted)
            qualifies = c_.exists(Q::lead_qualifies_soft_deleted, "checking a lead", tenant, std::string_view(id),
                                  to_unix_ms(b.cutoff));
        else if (b.selection == Selection::all)
            qualifies = c_.exists(Q::lead_qualifies_all, "checking a lead", tenant, std::string_view(id));
        if (!qualifies) return qualifies.error();
        if (!*qualifies) return {};
        // Analytics first, then the messages, then the lead: all in the batch's transaction.
        if (auto n = c_.exec(Q::fold_messages_of_contact, "folding messages into analytics", tenant, std::string_view(id)); !n)
            return n.error();
        if (auto n = c_.exec(Q::fold_lead, "folding a lead into analytics", tenant, std::string_view(id)); !n)
            return n.error();
        auto messages = c_.exec(Q::messages_of_contact_delete, "deleting a lead's messages", tenant, std::string_view(id));
        if (!messages) return messages.error();
        auto leads = c_.exec(Q::lead_delete, "deleting a lead", tenant, std::string_view(id));
        if (!leads) return leads.error();
        change.rows += *leads;
        change.dependents += *messages;
        return {};
    }
};

class Messages final : public TargetBase {
public:
    using TargetBase::TargetBase;
    std::string_view name() const noexcept override { return "messages"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        if (sel == Selection::soft_deleted) return CandidatePage{{}, std::string(after), false};
        return page(sel == Selection::expired ? Q::message_expired_page : Q::message_all_page, tenant, after, cutoff,
                    limit, after);
    }

private:
    Result<void> hard_delete_one(const Batch& b, const std::string& id, Change& change) override {
        const std::string_view tenant = b.tenant.value();
        Result<bool> qualifies = false;
        if (b.selection == Selection::expired)
            qualifies = c_.exists(Q::message_qualifies_expired, "checking a message", tenant, std::string_view(id),
                                  to_unix_ms(b.cutoff));
        else if (b.selection == Selection::all)
            qualifies = c_.exists(Q::message_qualifies_all, "checking a message", tenant, std::string_view(id));
        if (!qualifies) return qualifies.error();
        if (!*qualifies) return {};
        if (auto n = c_.exec(Q::fold_message, "folding a message into analytics", tenant, std::string_view(id)); !n)
            return n.error();
        auto n = c_.exec(Q::message_delete, "deleting a message", tenant, std::string_view(id));
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }
};

/// Consent records, inbound activity and the request register: only at account termination
/// (Selection::all).
class AccountData final : public TargetBase {
public:
    AccountData(const Connection& c, std::string_view name, Q page, Q remove, bool numeric)
        : TargetBase(c), name_(name), page_(page), remove_(remove), numeric_(numeric) {}
    std::string_view name() const noexcept override { return name_; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        if (sel != Selection::all) return CandidatePage{{}, std::string(after), false};
        if (!numeric_) return page(page_, tenant, after, cutoff, limit, after);
        // Numbers sort before BLOBs in SQLite, so a tag cursor continues where the integers end.
        if (auto tag = blob_cursor(after)) return page(page_, tenant, *tag, cutoff, limit, after);
        const auto from = numeric_cursor(after);
        if (!from) return Error(StorageErrc::invalid_argument, "a cursor of '" + name_ + "' is a number");
        return page(page_, tenant, *from, cutoff, limit, after);
    }

private:
    Result<void> hard_delete_one(const Batch& b, const std::string& id, Change& change) override {
        if (b.selection != Selection::all) return {};
        Result<std::int64_t> n = std::int64_t{0};
        if (auto tag = numeric_ ? blob_cursor(id) : std::nullopt) {
            n = c_.exec(remove_, "deleting account data", std::string_view(b.tenant.value()), *tag);
        } else if (numeric_) {
            const auto key = numeric_cursor(id);
            if (!key || id.empty()) return {};
            n = c_.exec(remove_, "deleting account data", std::string_view(b.tenant.value()), *key);
        } else {
            n = c_.exec(remove_, "deleting account data", std::string_view(b.tenant.value()), std::string_view(id));
        }
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }

    std::string name_;
    Q page_;
    Q remove_;
    bool numeric_;
};

/// Webhook de-duplication keys: 30 days after they were seen (expired), and at termination (all).
/// They hold no personal data and are never under a hold.
class WebhookKeys final : public TargetBase {
public:
    using TargetBase::TargetBase;
    std::string_view name() const noexcept override { return "webhook_keys"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        if (sel == Selection::soft_deleted) return CandidatePage{{}, std::string(after), false};
        return page(sel == Selection::expired ? Q::webhook_key_expired_page : Q::webhook_key_all_page, tenant, after,
                    cutoff, limit, after);
    }

private:
    Result<void> hard_delete_one(const Batch& b, const std::string& id, Change& change) override {
        Result<std::int64_t> n = std::int64_t{0};
        if (b.selection == Selection::expired)
            n = c_.exec(Q::webhook_key_delete_expired, "deleting a webhook key", std::string_view(b.tenant.value()),
                        std::string_view(id), to_unix_ms(b.cutoff));
        else if (b.selection == Selection::all)
            n = c_.exec(Q::webhook_key_delete, "deleting a webhook key", std::string_view(b.tenant.value()),
                        std::string_view(id));
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }
};

// ---------------------------------------------------------------------------------------------
// The ports together

class SqliteRetention final : public retention::RetentionStores,
                              private AccountStore,
                              private retention::SweepJournal,
                              private retention::AggregateStore {
public:
    SqliteRetention(SqliteHandle h, StoreSet& owner)
        : c_(h),
          owner_(owner),
          contacts_(c_),
          messages_(c_),
          consents_(c_, "consent_records", Q::consent_all_page, Q::consent_delete, true),
          activity_(c_, "inbound_activity", Q::activity_all_page, Q::activity_delete, true),
          requests_(c_, "subject_requests", Q::request_all_page, Q::request_delete, false),
          webhook_keys_(c_) {}

    AccountStore& accounts() override { return *this; }
    retention::SweepJournal& journal() override { return *this; }
    retention::AggregateStore& aggregates() override { return *this; }
    std::vector<retention::TargetBinding> targets() override {
        using retention::Category;
        return {{&contacts_, Category::lead},
                {&messages_, Category::message},
                {&consents_, Category::account},
                {&activity_, Category::account},
                {&requests_, Category::account},
                {&webhook_keys_, Category::webhook_key}};
    }
    StoreSet* store_set() noexcept override { return &owner_; }

private:
    // AccountStore
    Result<void> put(const Account& a) override {
        return guarded<void>([&]() -> Result<void> {
            if (a.tenant.empty()) return Error(StorageErrc::invalid_argument, "an account needs a tenant id");
            std::lock_guard lock(c_.mutex());
            if (auto ok = c_.writable(); !ok) return ok;
            std::optional<std::int64_t> closed;
            if (a.closed_at) closed = to_unix_ms(*a.closed_at);
            auto n = c_.exec(Q::account_upsert, "storing an account", std::string_view(a.tenant.value()),
                             to_unix_ms(a.opened_at), closed, std::int64_t{a.legal_hold ? 1 : 0});
            if (!n) return n.error();
            return {};
        });
    }

    Result<std::optional<Account>> get(const TenantId& tenant) const override {
        return guarded<std::optional<Account>>([&]() -> Result<std::optional<Account>> {
            if (tenant.empty()) return Error(StorageErrc::invalid_argument, "reading an account needs a tenant id");
            std::lock_guard lock(c_.mutex());
            return read_account(tenant);
        });
    }

    Result<std::vector<Account>> list(const Page& page) const override {
        return guarded<std::vector<Account>>([&]() -> Result<std::vector<Account>> {
            std::vector<Account> out;
            std::string after = page.after;
            while (out.size() < page.limit) {
                std::lock_guard lock(c_.mutex());
                auto st = c_.statement(Q::tenant_next);
                if (!st) return st.error();
                int rc = bind_all(st->get(), std::string_view(after));
                if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
                if (rc != SQLITE_ROW) return c_.failure(rc, "listing tenants");
                if (sqlite3_column_type(st->get(), 0) == SQLITE_NULL) break;
                after = column_text(st->get(), 0);
                auto account = read_account(TenantId{after});
                if (!account) return account.error();
                out.push_back(account->value_or(Account{TenantId{after}}));
            }
            return out;
        });
    }

    Result<std::optional<Account>> read_account(const TenantId& tenant) const {
        auto st = c_.statement(Q::account_get);
        if (!st) return st.error();
        int rc = bind_all(st->get(), std::string_view(tenant.value()));
        if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
        if (rc == SQLITE_DONE) return std::optional<Account>{};
        if (rc != SQLITE_ROW) return c_.failure(rc, "reading an account");
        Account a{tenant};
        a.opened_at = from_unix_ms(column_int(st->get(), 0));
        if (sqlite3_column_type(st->get(), 1) != SQLITE_NULL) a.closed_at = from_unix_ms(column_int(st->get(), 1));
        a.legal_hold = column_int(st->get(), 2) != 0;
        return std::optional<Account>{std::move(a)};
    }

    // SweepJournal
    Result<std::optional<std::string>> load(std::string_view sweeper) const override {
        return guarded<std::optional<std::string>>([&]() -> Result<std::optional<std::string>> {
            std::lock_guard lock(c_.mutex());
            auto st = c_.statement(Q::journal_get);
            if (!st) return st.error();
            int rc = bind_all(st->get(), sweeper);
            if (rc == SQLITE_OK) rc = sqlite3_step(st->get());
            if (rc == SQLITE_DONE) return std::optional<std::string>{};
            if (rc != SQLITE_ROW) return c_.failure(rc, "reading the sweep journal");
            return std::optional<std::string>{column_text(st->get(), 0)};
        });
    }
    Result<void> save(std::string_view sweeper, std::string_view state) override {
        return write([&] { return c_.exec(Q::journal_put, "saving the sweep journal", sweeper, state); });
    }
    Result<void> clear(std::string_view sweeper) override {
        return write([&] { return c_.exec(Q::journal_delete, "clearing the sweep journal", sweeper); });
    }

    // AggregateStore
    Result<void> add(std::span<const retention::DailyAggregate> counts) override {
        return guarded<void>([&]() -> Result<void> {
            if (auto ok = retention::check_aggregates(counts); !ok) return ok;
            std::lock_guard lock(c_.mutex());
            if (auto ok = c_.writable(); !ok) return ok;
            Connection::Transaction tx(c_);
            if (auto ok = tx.begin(); !ok) return ok;
            for (const auto& a : counts) {
                auto n = c_.exec(Q::aggregate_add, "adding to analytics aggregates", std::string_view(a.tenant.value()),
                                 static_cast<std::int64_t>(a.day.time_since_epoch().count()),
                                 std::string_view(a.event_type), std::string_view(a.source), a.count);
                if (!n) return n.error();
            }
            return tx.commit();
        });
    }

    Result<std::vector<retention::DailyAggregate>> list(const TenantId& tenant, std::chrono::sys_days from,
                                                        std::chrono::sys_days until) const override {
        return guarded<std::vector<retention::DailyAggregate>>([&]() -> Result<std::vector<retention::DailyAggregate>> {
            std::lock_guard lock(c_.mutex());
            auto st = c_.statement(Q::aggregate_list);
            if (!st) return st.error();
            int rc = bind_all(st->get(), std::string_view(tenant.value()),
                              static_cast<std::int64_t>(from.time_since_epoch().count()),
                              static_cast<std::int64_t>(until.time_since_epoch().count()));
            std::vector<retention::DailyAggregate> out;
            while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                rc = sqlite3_step(st->get());
                if (rc != SQLITE_ROW) break;
                out.push_back({tenant, std::chrono::sys_days{std::chrono::days{column_int(st->get(), 0)}},
                               column_text(st->get(), 1), column_text(st->get(), 2), column_int(st->get(), 3)});
            }
            if (rc != SQLITE_DONE) return c_.failure(rc, "reading analytics aggregates");
            return out;
        });
    }

    template <class Body>
    Result<void> write(Body body) {
        return guarded<void>([&]() -> Result<void> {
            std::lock_guard lock(c_.mutex());
            if (auto ok = c_.writable(); !ok) return ok;
            auto n = body();
            if (!n) return n.error();
            return {};
        });
    }

    Connection c_;
    StoreSet& owner_;
    Contacts contacts_;
    Messages messages_;
    AccountData consents_;
    AccountData activity_;
    AccountData requests_;
    WebhookKeys webhook_keys_;
};

}  // namespace

std::unique_ptr<retention::RetentionStores> make_sqlite_retention(SqliteHandle handle, StoreSet& owner) {
    return std::make_unique<SqliteRetention>(handle, owner);
}

}  // namespace heroshhi::storage::detail
