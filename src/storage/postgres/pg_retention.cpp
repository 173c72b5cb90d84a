// heroshhi — PostgresStore's retention ports (issue 8): accounts, the sweep journal, analytics
// aggregates and the retention targets over the library's own tables (schema version 2 adds
// their tables, src/storage/postgres/pg_schema.cpp). The SQLite twin is sqlite_retention.cpp.
//
// The rules of pg_connection.hpp hold: every SQL text is a constant, values travel as parameters,
// a batch, the analytics it folds and the sweep's progress commit in one transaction; no exception
// leaves a port method.
//
// Several instances share one database, and each may run a sweep (a nightly job on every gateway).
// Two guards keep their work apart:
// - An advisory lock per (tenant, category): each batch's transaction first takes
//   pg_advisory_xact_lock on a key hashed from "heroshhi.retention", the category and the tenant
//   (lead and message share the key "lead": a lead's cascade deletes messages too).
//   A second instance on the same tenant and category WAITS for the first one's batch to commit
//   (rather than skipping it): then it re-checks every row of its own batch and finds those the
//   first one deleted gone, so each instance's report counts exactly what it deleted and neither
//   sweep ends early with work undone. The lock is released at commit or rollback, and a crashed
//   instance's lock goes with its connection.
// - Row locks: a hard delete first locks what it deletes (SELECT ... FOR UPDATE, the lead with its
//   messages) and folds analytics only after, so a row another transaction deleted meanwhile (a
//   lead's cascade against the messages step of another instance) is neither deleted nor counted
//   twice, whatever the categories.
#include "pg_retention.hpp"
#include "../detail/guarded.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <heroshhi/storage/errors.hpp>

namespace heroshhi::storage::detail {
namespace {

using detail::guarded;

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
#define HEROSHHI_HELD_PHONE(tenant, phone) \
    "EXISTS (SELECT 1 FROM contacts h WHERE h.tenant = " tenant " AND h.phone_key = " phone " AND h.legal_hold)"
#define HEROSHHI_FOLD_CONFLICT \
    " ON CONFLICT (tenant, day, event_type, source) DO UPDATE SET count = analytics_daily.count + excluded.count"

namespace sql {

constexpr const char* batch_lock = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

constexpr const char* account_upsert =
    "INSERT INTO accounts (tenant, opened_at_ms, closed_at_ms, legal_hold) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (tenant) DO UPDATE SET opened_at_ms = excluded.opened_at_ms,"
    " closed_at_ms = excluded.closed_at_ms, legal_hold = excluded.legal_hold";
constexpr const char* account_get = "SELECT opened_at_ms, closed_at_ms, legal_hold FROM accounts WHERE tenant = $1";
// Each part is one index seek; a tenant with nothing but opt-out events is not listed.
constexpr const char* tenant_next =
    "SELECT n.t, a.opened_at_ms, a.closed_at_ms, a.legal_hold FROM (SELECT min(t) AS t FROM ("
    " SELECT min(tenant) AS t FROM accounts WHERE tenant > $1"
    " UNION ALL SELECT min(tenant) FROM contacts WHERE tenant > $1"
    " UNION ALL SELECT min(tenant) FROM consent_records WHERE tenant > $1"
    " UNION ALL SELECT min(tenant) FROM inbound_activity WHERE tenant > $1"
    " UNION ALL SELECT min(tenant) FROM dedup_keys WHERE tenant > $1"
    " UNION ALL SELECT min(tenant) FROM audit_chains WHERE tenant > $1 AND head_sequence > 0) u) n"
    " LEFT JOIN accounts a ON a.tenant = n.t";

constexpr const char* journal_get = "SELECT state FROM retention_sweeps WHERE sweeper = $1";
constexpr const char* journal_put =
    "INSERT INTO retention_sweeps (sweeper, state) VALUES ($1, $2)"
    " ON CONFLICT (sweeper) DO UPDATE SET state = excluded.state";
constexpr const char* journal_delete = "DELETE FROM retention_sweeps WHERE sweeper = $1";

constexpr const char* aggregate_add =
    "INSERT INTO analytics_daily (tenant, day, event_type, source, count) VALUES ($1, $2, $3, $4, $5)"
    HEROSHHI_FOLD_CONFLICT;
constexpr const char* aggregate_list =
    "SELECT day, event_type, source, count FROM analytics_daily"
    " WHERE tenant = $1 AND day >= $2 AND day < $3 ORDER BY day, event_type, source";

constexpr const char* fold_lead =
    "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
    " SELECT tenant, " HEROSHHI_DAY_OF("created_at_ms") ", 'lead', " HEROSHHI_SOURCE_OF("source") ", 1"
    " FROM contacts WHERE tenant = $1 AND id = $2 AND NOT analytics_objection AND NOT restricted" HEROSHHI_FOLD_CONFLICT;
constexpr const char* fold_messages_of_contact =
    "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
    " SELECT m.tenant, " HEROSHHI_DAY_OF("m.created_at_ms") ", 'message.' || m.direction, "
    HEROSHHI_SOURCE_OF("c.source") ", count(*)"
    " FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.contact_id = $2 AND NOT c.analytics_objection AND NOT c.restricted GROUP BY 1, 2, 3, 4"
    HEROSHHI_FOLD_CONFLICT;
constexpr const char* fold_message =
    "INSERT INTO analytics_daily (tenant, day, event_type, source, count)"
    " SELECT m.tenant, " HEROSHHI_DAY_OF("m.created_at_ms") ", 'message.' || m.direction, "
    HEROSHHI_SOURCE_OF("c.source") ", 1"
    " FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.id = $2 AND NOT c.analytics_objection AND NOT c.restricted" HEROSHHI_FOLD_CONFLICT;

// Last activity: creation, update, or the newest message (messages_by_contact serves it).
constexpr const char* lead_expired_page =
    "SELECT c.id, GREATEST(c.created_at_ms, c.updated_at_ms, COALESCE((SELECT max(m.created_at_ms)"
    " FROM messages m WHERE m.tenant = c.tenant AND m.contact_id = c.id), c.created_at_ms)), c.legal_hold, 0"
    " FROM contacts c WHERE c.tenant = $1 AND c.id > $2 AND c.deleted_at_ms IS NULL"
    " AND c.created_at_ms <= $3 AND c.updated_at_ms <= $3 AND NOT EXISTS (SELECT 1 FROM messages m"
    " WHERE m.tenant = c.tenant AND m.contact_id = c.id AND m.created_at_ms > $3)"
    " ORDER BY c.id LIMIT $4";
constexpr const char* lead_soft_deleted_page =
    "SELECT c.id, c.deleted_at_ms, c.legal_hold, (SELECT count(*) FROM messages m"
    " WHERE m.tenant = c.tenant AND m.contact_id = c.id) FROM contacts c"
    " WHERE c.tenant = $1 AND c.id > $2 AND c.deleted_at_ms IS NOT NULL AND c.deleted_at_ms <= $3"
    " ORDER BY c.id LIMIT $4";
constexpr const char* lead_all_page =
    "SELECT c.id, c.created_at_ms, c.legal_hold, (SELECT count(*) FROM messages m"
    " WHERE m.tenant = c.tenant AND m.contact_id = c.id) FROM contacts c"
    " WHERE c.tenant = $1 AND c.id > $2 ORDER BY c.id LIMIT $3";
// An UPDATE re-checks its WHERE on the row's newest version after waiting for its lock.
constexpr const char* lead_soft_delete =
    "UPDATE contacts SET deleted_at_ms = $3 WHERE tenant = $1 AND id = $2 AND deleted_at_ms IS NULL"
    " AND NOT legal_hold AND created_at_ms <= $4 AND updated_at_ms <= $4 AND NOT EXISTS"
    " (SELECT 1 FROM messages m WHERE m.tenant = $1 AND m.contact_id = $2 AND m.created_at_ms > $4)";
constexpr const char* lead_lock_soft_deleted =
    "SELECT 1 FROM contacts WHERE tenant = $1 AND id = $2 AND NOT legal_hold"
    " AND deleted_at_ms IS NOT NULL AND deleted_at_ms <= $3 FOR UPDATE";
constexpr const char* lead_lock_all = "SELECT 1 FROM contacts WHERE tenant = $1 AND id = $2 AND NOT legal_hold FOR UPDATE";
constexpr const char* messages_of_contact_lock =
    "SELECT 1 FROM messages WHERE tenant = $1 AND contact_id = $2 ORDER BY id FOR UPDATE";
constexpr const char* lead_delete = "DELETE FROM contacts WHERE tenant = $1 AND id = $2";
constexpr const char* messages_of_contact_delete = "DELETE FROM messages WHERE tenant = $1 AND contact_id = $2";

constexpr const char* message_expired_page =
    "SELECT m.id, m.created_at_ms, c.legal_hold, 0 FROM messages m"
    " JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.id > $2 AND m.created_at_ms <= $3 AND c.deleted_at_ms IS NULL"
    " ORDER BY m.id LIMIT $4";
constexpr const char* message_all_page =
    "SELECT m.id, m.created_at_ms, c.legal_hold, 0 FROM messages m"
    " JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.id > $2 ORDER BY m.id LIMIT $3";
constexpr const char* message_lock_expired =
    "SELECT 1 FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.id = $2 AND m.created_at_ms <= $3 AND c.deleted_at_ms IS NULL"
    " AND NOT c.legal_hold FOR UPDATE OF m";
constexpr const char* message_lock_all =
    "SELECT 1 FROM messages m JOIN contacts c ON c.tenant = m.tenant AND c.id = m.contact_id"
    " WHERE m.tenant = $1 AND m.id = $2 AND NOT c.legal_hold FOR UPDATE OF m";
constexpr const char* message_delete = "DELETE FROM messages WHERE tenant = $1 AND id = $2";

constexpr const char* consent_all_page =
    "SELECT r.sequence, r.at_ms, " HEROSHHI_HELD_PHONE("r.tenant", "r.phone_key") ", 0"
    " FROM consent_records r WHERE r.tenant = $1 AND r.sequence > $2 ORDER BY r.sequence LIMIT $3";
constexpr const char* consent_delete =
    "DELETE FROM consent_records r WHERE r.tenant = $1 AND r.sequence = $2 AND NOT "
    HEROSHHI_HELD_PHONE("r.tenant", "r.phone_key");
constexpr const char* activity_all_page =
    "SELECT encode(a.phone_key, 'hex'), a.last_inbound_ms, " HEROSHHI_HELD_PHONE("a.tenant", "a.phone_key") ", 0"
    " FROM inbound_activity a WHERE a.tenant = $1 AND a.phone_key > decode($2, 'hex')"
    " ORDER BY a.phone_key LIMIT $3";
constexpr const char* activity_delete =
    "DELETE FROM inbound_activity a WHERE a.tenant = $1 AND a.phone_key = decode($2, 'hex') AND NOT "
    HEROSHHI_HELD_PHONE("a.tenant", "a.phone_key");
constexpr const char* request_all_page =
    "SELECT id, received_at_ms, false, 0 FROM subject_requests WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3";
constexpr const char* request_delete = "DELETE FROM subject_requests WHERE tenant = $1 AND id = $2";
// Keys are listed in key order whatever their age: an expired page reads past the keys still kept.
constexpr const char* webhook_key_expired_page =
    "SELECT dedup_key, seen_at_ms, false, 0 FROM dedup_keys WHERE tenant = $1 AND dedup_key > $2"
    " AND seen_at_ms <= $3 ORDER BY dedup_key LIMIT $4";
constexpr const char* webhook_key_all_page =
    "SELECT dedup_key, seen_at_ms, false, 0 FROM dedup_keys WHERE tenant = $1 AND dedup_key > $2"
    " ORDER BY dedup_key LIMIT $3";
constexpr const char* webhook_key_delete_expired =
    "DELETE FROM dedup_keys WHERE tenant = $1 AND dedup_key = $2 AND seen_at_ms <= $3";
constexpr const char* webhook_key_delete = "DELETE FROM dedup_keys WHERE tenant = $1 AND dedup_key = $2";

}  // namespace sql

#undef HEROSHHI_DAY_OF
#undef HEROSHHI_SOURCE_OF
#undef HEROSHHI_HELD_PHONE
#undef HEROSHHI_FOLD_CONFLICT

std::int64_t clamp_limit(std::size_t n) noexcept {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, std::numeric_limits<std::int64_t>::max()));
}

/// A numeric cursor or id ("" = before the first); nullopt if it is not a number.
std::optional<std::int64_t> number_of(std::string_view s) {
    if (s.empty()) return std::int64_t{-1};
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

/// Whether `s` is lower-case hex of whole bytes (an inbound activity id: its phone key).
bool is_hex(std::string_view s) {
    return s.size() % 2 == 0 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
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

/// The shared shape of every target: checks, one transaction per batch under the batch lock, the
/// journal written in it.
class TargetBase : public retention::Target {
public:
    TargetBase(pg::Pool& pool, std::string_view lock_group) : pool_(pool), lock_group_(lock_group) {}

    Result<std::int64_t> count(const TenantId& tenant, Selection selection, Timestamp cutoff) const override {
        return count_pages(*this, tenant, selection, cutoff);
    }
    Result<Change> soft_delete(const Batch& b) override {
        return in_batch(b, [&](pg::Lease& l, const std::string& id, Change& change) { return soft_delete_one(l, b, id, change); });
    }
    Result<Change> hard_delete(const Batch& b) override {
        return in_batch(b, [&](pg::Lease& l, const std::string& id, Change& change) { return hard_delete_one(l, b, id, change); });
    }

protected:
    /// Default: this target has no soft-deleted state, so nothing qualifies.
    virtual Result<void> soft_delete_one(pg::Lease&, const Batch&, const std::string&, Change&) { return {}; }
    virtual Result<void> hard_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) = 0;

    /// Reads a page: columns id, since (ms), held, dependents. `params` holds $2... after the tenant.
    Result<CandidatePage> page(const char* text, const TenantId& tenant, pg::Params params, std::size_t limit,
                               std::string_view after) const {
        return guarded<CandidatePage>([&]() -> Result<CandidatePage> {
            if (tenant.empty()) return Error(StorageErrc::invalid_argument, "listing candidates needs a tenant");
            params.integer(clamp_limit(limit));
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            auto rows = lease->exec(text, params, "listing retention candidates");
            if (!rows) return rows.error();
            CandidatePage out;
            for (int r = 0; r < rows->size(); ++r)
                out.rows.push_back(Candidate{std::string(rows->text(r, 0)), from_unix_ms(rows->integer(r, 1).value_or(0)),
                                             rows->boolean(r, 2), rows->integer(r, 3).value_or(0)});
            out.more = out.rows.size() == limit && limit > 0;
            out.next = out.rows.empty() ? std::string(after) : out.rows.back().id;
            return out;
        });
    }
    /// The tenant first, then the rest of a statement's parameters.
    static pg::Params with_tenant(const TenantId& tenant) {
        pg::Params p;
        p.text(tenant.value());
        return p;
    }

    static Result<std::int64_t> changed(pg::Lease& l, const char* text, const pg::Params& p, std::string_view action) {
        auto rows = l.exec(text, p, action);
        if (!rows) return rows.error();
        return rows->affected();
    }
    static Result<bool> found(pg::Lease& l, const char* text, const pg::Params& p, std::string_view action) {
        auto rows = l.exec(text, p, action);
        if (!rows) return rows.error();
        return !rows->empty();
    }

private:
    template <class Each>
    Result<Change> in_batch(const Batch& b, Each each) {
        return guarded<Change>([&]() -> Result<Change> {
            if (b.tenant.empty()) return Error(StorageErrc::invalid_argument, "a retention batch needs a tenant");
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            return pg::transaction<Change>(*lease, "running a retention batch", [&]() -> Result<Change> {
                pg::Params key;
                key.text("heroshhi.retention:" + lock_group_ + ":" + b.tenant.value());
                if (auto ok = lease->exec(sql::batch_lock, key, "waiting for the retention batch lock"); !ok)
                    return ok.error();
                Change change;
                for (const std::string& id : b.ids)
                    if (auto ok = each(*lease, id, change); !ok) return ok.error();
                if (!b.sweeper.empty()) {  // empty outside a sweep: nothing to save
                    pg::Params j;
                    j.text(b.sweeper).text(b.progress);
                    if (auto ok = lease->exec(sql::journal_put, j, "saving the sweep's progress"); !ok) return ok.error();
                    change.progress_saved = true;
                }
                return change;
            });
        });
    }

    pg::Pool& pool_;
    std::string lock_group_;
};

// ---------------------------------------------------------------------------------------------
// The targets

class Contacts final : public TargetBase {
public:
    explicit Contacts(pg::Pool& pool) : TargetBase(pool, "lead") {}
    std::string_view name() const noexcept override { return "contacts"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        pg::Params p = with_tenant(tenant);
        p.text(after);
        if (sel == Selection::all) return page(sql::lead_all_page, tenant, std::move(p), limit, after);
        p.integer(to_unix_ms(cutoff));
        return page(sel == Selection::expired ? sql::lead_expired_page : sql::lead_soft_deleted_page, tenant,
                    std::move(p), limit, after);
    }

private:
    Result<void> soft_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) override {
        if (b.selection != Selection::expired) return {};
        pg::Params p = with_tenant(b.tenant);
        p.text(id).integer(to_unix_ms(b.at)).integer(to_unix_ms(b.cutoff));
        auto n = changed(l, sql::lead_soft_delete, p, "soft-deleting a lead");
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }

    Result<void> hard_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) override {
        pg::Params key = with_tenant(b.tenant);
        key.text(id);
        Result<bool> qualifies = false;
        if (b.selection == Selection::soft_deleted) {
            pg::Params p = key;
            p.integer(to_unix_ms(b.cutoff));
            qualifies = found(l, sql::lead_lock_soft_deleted, p, "locking a lead");
        } else if (b.selection == Selection::all) {
            qualifies = found(l, sql::lead_lock_all, key, "locking a lead");
        }
        if (!qualifies) return qualifies.error();
        if (!*qualifies) return {};
        // Its messages locked too, then analytics, then the messages and the lead: all in the batch.
        if (auto ok = l.exec(sql::messages_of_contact_lock, key, "locking a lead's messages"); !ok) return ok.error();
        if (auto ok = l.exec(sql::fold_messages_of_contact, key, "folding messages into analytics"); !ok)
            return ok.error();
        if (auto ok = l.exec(sql::fold_lead, key, "folding a lead into analytics"); !ok) return ok.error();
        auto messages = changed(l, sql::messages_of_contact_delete, key, "deleting a lead's messages");
        if (!messages) return messages.error();
        auto leads = changed(l, sql::lead_delete, key, "deleting a lead");
        if (!leads) return leads.error();
        change.rows += *leads;
        change.dependents += *messages;
        return {};
    }
};

class Messages final : public TargetBase {
public:
    // The lead's lock group: a lead's cascade and the message rule touch the same rows.
    explicit Messages(pg::Pool& pool) : TargetBase(pool, "lead") {}
    std::string_view name() const noexcept override { return "messages"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        if (sel == Selection::soft_deleted) return CandidatePage{{}, std::string(after), false};
        pg::Params p = with_tenant(tenant);
        p.text(after);
        if (sel == Selection::all) return page(sql::message_all_page, tenant, std::move(p), limit, after);
        p.integer(to_unix_ms(cutoff));
        return page(sql::message_expired_page, tenant, std::move(p), limit, after);
    }

private:
    Result<void> hard_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) override {
        pg::Params key = with_tenant(b.tenant);
        key.text(id);
        Result<bool> qualifies = false;
        if (b.selection == Selection::expired) {
            pg::Params p = key;
            p.integer(to_unix_ms(b.cutoff));
            qualifies = found(l, sql::message_lock_expired, p, "locking a message");
        } else if (b.selection == Selection::all) {
            qualifies = found(l, sql::message_lock_all, key, "locking a message");
        }
        if (!qualifies) return qualifies.error();
        if (!*qualifies) return {};
        if (auto ok = l.exec(sql::fold_message, key, "folding a message into analytics"); !ok) return ok.error();
        auto n = changed(l, sql::message_delete, key, "deleting a message");
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }
};

/// Consent records, inbound activity and the request register: only at account termination
/// (Selection::all), except (consents, activity) the numbers of held leads.
class AccountData final : public TargetBase {
public:
    enum class Key { sequence, phone_hex, text };
    AccountData(pg::Pool& pool, std::string_view name, const char* page, const char* remove, Key key)
        : TargetBase(pool, "account"), name_(name), page_(page), remove_(remove), key_(key) {}
    std::string_view name() const noexcept override { return name_; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp, std::string_view after,
                                     std::size_t limit) const override {
        if (sel != Selection::all) return CandidatePage{{}, std::string(after), false};
        pg::Params p = with_tenant(tenant);
        if (key_ == Key::text) {
            p.text(after);
        } else if (key_ == Key::phone_hex) {
            if (!is_hex(after)) return Error(StorageErrc::invalid_argument, "a cursor of '" + name_ + "' is a hex key");
            p.text(after);
        } else {
            const auto from = number_of(after);
            if (!from) return Error(StorageErrc::invalid_argument, "a cursor of '" + name_ + "' is a number");
            p.integer(*from);
        }
        return page(page_, tenant, std::move(p), limit, after);
    }

private:
    Result<void> hard_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) override {
        if (b.selection != Selection::all || id.empty()) return {};
        pg::Params p = with_tenant(b.tenant);
        if (key_ == Key::text) {
            p.text(id);
        } else if (key_ == Key::phone_hex) {
            if (!is_hex(id)) return {};  // not one of ours: nothing qualifies
            p.text(id);
        } else {
            const auto key = number_of(id);
            if (!key) return {};
            p.integer(*key);
        }
        auto n = changed(l, remove_, p, "deleting account data");
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }

    std::string name_;
    const char* page_;
    const char* remove_;
    Key key_;
};

/// Webhook de-duplication keys: 30 days after they were seen (expired), and at termination (all).
class WebhookKeys final : public TargetBase {
public:
    explicit WebhookKeys(pg::Pool& pool) : TargetBase(pool, "webhook_key") {}
    std::string_view name() const noexcept override { return "webhook_keys"; }

    Result<CandidatePage> candidates(const TenantId& tenant, Selection sel, Timestamp cutoff, std::string_view after,
                                     std::size_t limit) const override {
        if (sel == Selection::soft_deleted) return CandidatePage{{}, std::string(after), false};
        pg::Params p = with_tenant(tenant);
        p.text(after);
        if (sel == Selection::all) return page(sql::webhook_key_all_page, tenant, std::move(p), limit, after);
        p.integer(to_unix_ms(cutoff));
        return page(sql::webhook_key_expired_page, tenant, std::move(p), limit, after);
    }

private:
    Result<void> hard_delete_one(pg::Lease& l, const Batch& b, const std::string& id, Change& change) override {
        pg::Params p = with_tenant(b.tenant);
        p.text(id);
        Result<std::int64_t> n = std::int64_t{0};
        if (b.selection == Selection::expired) {
            p.integer(to_unix_ms(b.cutoff));
            n = changed(l, sql::webhook_key_delete_expired, p, "deleting a webhook key");
        } else if (b.selection == Selection::all) {
            n = changed(l, sql::webhook_key_delete, p, "deleting a webhook key");
        }
        if (!n) return n.error();
        change.rows += *n;
        return {};
    }
};

// ---------------------------------------------------------------------------------------------
// The ports together

class PgRetention final : public retention::RetentionStores,
                          private AccountStore,
                          private retention::SweepJournal,
                          private retention::AggregateStore {
public:
    PgRetention(PgHandle handle, StoreSet& owner)
        : pool_(handle.pool),
          owner_(owner),
          contacts_(pool_),
          messages_(pool_),
          consents_(pool_, "consent_records", sql::consent_all_page, sql::consent_delete, AccountData::Key::sequence),
          activity_(pool_, "inbound_activity", sql::activity_all_page, sql::activity_delete,
                    AccountData::Key::phone_hex),
          requests_(pool_, "subject_requests", sql::request_all_page, sql::request_delete, AccountData::Key::text),
          webhook_keys_(pool_) {}

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
            pg::Params p;
            p.text(a.tenant.value()).integer(to_unix_ms(a.opened_at));
            p.optional_integer(a.closed_at ? std::optional(to_unix_ms(*a.closed_at)) : std::nullopt);
            p.boolean(a.legal_hold);
            return exec(sql::account_upsert, p, "storing an account");
        });
    }

    Result<std::optional<Account>> get(const TenantId& tenant) const override {
        return guarded<std::optional<Account>>([&]() -> Result<std::optional<Account>> {
            if (tenant.empty()) return Error(StorageErrc::invalid_argument, "reading an account needs a tenant id");
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            pg::Params p;
            p.text(tenant.value());
            auto rows = lease->exec(sql::account_get, p, "reading an account");
            if (!rows) return rows.error();
            if (rows->empty()) return std::optional<Account>{};
            return std::optional<Account>{account_of(tenant, *rows, 0)};
        });
    }

    Result<std::vector<Account>> list(const Page& page) const override {
        return guarded<std::vector<Account>>([&]() -> Result<std::vector<Account>> {
            std::vector<Account> out;
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            std::string after = page.after;
            while (out.size() < page.limit) {
                pg::Params p;
                p.text(after);
                auto rows = lease->exec(sql::tenant_next, p, "listing tenants");
                if (!rows) return rows.error();
                if (rows->empty() || rows->is_null(0, 0)) break;
                after = std::string(rows->text(0, 0));
                out.push_back(rows->is_null(0, 1) ? Account{TenantId{after}} : account_of(TenantId{after}, *rows, 1));
            }
            return out;
        });
    }

    /// An account from columns opened_at_ms, closed_at_ms, legal_hold starting at `first`.
    static Account account_of(const TenantId& tenant, const pg::Rows& rows, int first) {
        Account a{tenant};
        a.opened_at = from_unix_ms(rows.integer(0, first).value_or(0));
        if (!rows.is_null(0, first + 1)) a.closed_at = from_unix_ms(rows.integer(0, first + 1).value_or(0));
        a.legal_hold = rows.boolean(0, first + 2);
        return a;
    }

    // SweepJournal
    Result<std::optional<std::string>> load(std::string_view sweeper) const override {
        return guarded<std::optional<std::string>>([&]() -> Result<std::optional<std::string>> {
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            pg::Params p;
            p.text(sweeper);
            auto rows = lease->exec(sql::journal_get, p, "reading the sweep journal");
            if (!rows) return rows.error();
            if (rows->empty()) return std::optional<std::string>{};
            return std::optional<std::string>{std::string(rows->text(0, 0))};
        });
    }
    Result<void> save(std::string_view sweeper, std::string_view state) override {
        return guarded<void>([&]() -> Result<void> {
            pg::Params p;
            p.text(sweeper).text(state);
            return exec(sql::journal_put, p, "saving the sweep journal");
        });
    }
    Result<void> clear(std::string_view sweeper) override {
        return guarded<void>([&]() -> Result<void> {
            pg::Params p;
            p.text(sweeper);
            return exec(sql::journal_delete, p, "clearing the sweep journal");
        });
    }

    // AggregateStore
    Result<void> add(std::span<const retention::DailyAggregate> counts) override {
        return guarded<void>([&]() -> Result<void> {
            if (auto ok = retention::check_aggregates(counts); !ok) return ok;
            if (counts.empty()) return {};
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            return pg::transaction<void>(*lease, "adding to analytics aggregates", [&]() -> Result<void> {
                for (const auto& a : counts) {
                    pg::Params p;
                    p.text(a.tenant.value()).integer(a.day.time_since_epoch().count()).text(a.event_type);
                    p.text(a.source).integer(a.count);
                    if (auto ok = lease->exec(sql::aggregate_add, p, "adding to analytics aggregates"); !ok)
                        return ok.error();
                }
                return {};
            });
        });
    }

    Result<std::vector<retention::DailyAggregate>> list(const TenantId& tenant, std::chrono::sys_days from,
                                                        std::chrono::sys_days until) const override {
        return guarded<std::vector<retention::DailyAggregate>>([&]() -> Result<std::vector<retention::DailyAggregate>> {
            auto lease = pool_.acquire();
            if (!lease) return lease.error();
            pg::Params p;
            p.text(tenant.value()).integer(from.time_since_epoch().count()).integer(until.time_since_epoch().count());
            auto rows = lease->exec(sql::aggregate_list, p, "reading analytics aggregates");
            if (!rows) return rows.error();
            std::vector<retention::DailyAggregate> out;
            for (int r = 0; r < rows->size(); ++r)
                out.push_back({tenant, std::chrono::sys_days{std::chrono::days{rows->integer(r, 0).value_or(0)}},
                               std::string(rows->text(r, 1)), std::string(rows->text(r, 2)),
                               rows->integer(r, 3).value_or(0)});
            return out;
        });
    }

    Result<void> exec(const char* text, const pg::Params& p, std::string_view action) {
        auto lease = pool_.acquire();
        if (!lease) return lease.error();
        auto rows = lease->exec(text, p, action);
        if (!rows) return rows.error();
        return {};
    }

    pg::Pool& pool_;
    StoreSet& owner_;
    Contacts contacts_;
    Messages messages_;
    AccountData consents_;
    AccountData activity_;
    AccountData requests_;
    WebhookKeys webhook_keys_;
};

}  // namespace

std::unique_ptr<retention::RetentionStores> make_pg_retention(PgHandle handle, StoreSet& owner) {
    return std::make_unique<PgRetention>(handle, owner);
}

}  // namespace heroshhi::storage::detail
