// heroshhi — audit Log: the tamper-evident trail of every user action, per tenant.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/audit/chain.hpp>
#include <heroshhi/audit/entry.hpp>
#include <heroshhi/audit/query.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/audit_store.hpp>

namespace heroshhi::audit {

/// How a chain was found broken, at its first broken entry.
enum class Break {
    altered,      ///< the entry's content no longer matches its hash (it was edited)
    unlinked,     ///< the entry does not link to the one before it (replaced, inserted or reordered)
    missing,      ///< an entry is missing from the middle or the start (deleted)
    out_of_order, ///< the store returned an entry out of sequence
    truncated,    ///< the chain ends before its recorded head (entries cut off the end)
    beyond_head,  ///< an entry lies past the recorded head (appended behind the log's back)
    head_mismatch,///< the last entry is not the one the head records (the last entry was replaced)
    not_trusted,  ///< the chain does not contain the head the caller trusted
};
std::string_view to_string(Break b) noexcept;

/// What verify() found.
struct Verification {
    std::int64_t checked = 0;          ///< entries whose hash was recomputed
    std::int64_t first = 0;            ///< sequence of the first entry checked (0: none)
    std::int64_t last = 0;             ///< sequence of the last entry checked
    std::optional<Break> problem;      ///< nullopt: intact
    std::int64_t broken_at = 0;        ///< sequence of the first broken entry
    std::string detail;                ///< a sentence naming the entry and the problem

    bool intact() const noexcept { return !problem.has_value(); }
};

/// What purge_before() did.
struct PurgeReport {
    std::int64_t purged = 0;                ///< entries deleted by this call
    std::optional<Checkpoint> checkpoint;   ///< the checkpoint now in force
    bool more = false;                      ///< stopped at max_entries; call again for the rest
};

/// Appends entries to per-tenant hash chains through an AuditStore, and verifies, queries,
/// exports and purges them.
///
/// Appends are serialised per tenant and batched: while one caller commits, the entries of every
/// caller that arrives are queued, and the next of them commits the whole queue in one
/// transaction (group commit). Each caller returns once its own entries are stored, in the order
/// the callers arrived. The Log caches each tenant's head; if another process appended meanwhile
/// (the store answers conflict) it reloads the head and recomputes, so several Logs over one
/// database stay one chain.
///
/// Thread-safe. Every method blocks on the store.
class Log {
public:
    /// Entries older than this are purged by the retention sweep (the policy: one year).
    static constexpr std::chrono::days retention{365};

    /// Borrows the store and the clock, which must outlive the Log.
    Log(storage::AuditStore& store, const Clock& clock);
    ~Log();
    Log(const Log&) = delete;
    Log& operator=(const Log&) = delete;

    /// Appends one entry and returns it as stored: sequence, time (the Log's clock) and hashes
    /// filled in. Fails with AuditErrc::invalid_entry (see there) or the store's error; then
    /// nothing was stored.
    Result<Entry> append(Entry entry);

    /// Appends `entries`, all of one tenant, in order and atomically, filling in each one's
    /// sequence, time and hashes. Same failures as append(Entry).
    Result<void> append(std::span<Entry> entries);

    /// The tenant's head: the last entry's sequence and hash.
    Result<ChainHead> head(const TenantId& tenant);

    /// Recomputes the tenant's chain from the purge checkpoint (or the start) to the recorded
    /// head and reports the first broken entry. With `trusted` (a head seen earlier, e.g. at the
    /// last export), also checks that the chain still contains it. Fails only if the store cannot
    /// be read; a broken chain is a result, not an error. Reads through AuditStore::scan in pages;
    /// once a chain is longer than a few hundred entries, a second thread checks their hashes
    /// while this one reads and links the next (started and joined within the call).
    Result<Verification> verify(const TenantId& tenant, std::optional<ChainHead> trusted = std::nullopt) const;

    /// The entries matching the query (one page; see Query).
    Result<std::vector<Entry>> query(const Query& query) const;

    /// Writes every entry matching the query (paging through them, query.limit at a time) to
    /// `out` as JSON lines: tenant, sequence, at (ISO 8601), actor, actor_role, action,
    /// target_type, target_id, outcome ("allowed" or "denied"), reason, rule, request_id,
    /// policy_revision, prev_hash and hash (hex). Returns the number of lines written.
    Result<std::size_t> export_jsonl(const Query& query, std::ostream& out) const;

    /// What export_jsonl_page wrote.
    struct ExportedPage {
        std::size_t lines = 0;
        /// The last entry's sequence when the page was full (more may follow: pass it as the next
        /// query's after_sequence); nullopt when the query's matches are exhausted.
        std::optional<std::int64_t> next_after;
    };
    /// One page of export_jsonl: at most query.limit entries after query.after_sequence, so an
    /// answer over the network stays bounded however long the trail.
    Result<ExportedPage> export_jsonl_page(const Query& query, std::ostream& out) const;

    /// Purges the tenant's entries older than `cutoff` (normally now - retention) as a prefix of
    /// the chain: it stops at the first entry at or after the cutoff, and after `max_entries`.
    /// The purged entries are verified first; if they are broken, nothing is purged and the call
    /// fails with AuditErrc::chain_broken, so the evidence stays. The store records a checkpoint
    /// the remaining chain verifies from, and the purge itself is appended as a system entry
    /// (action "audit.purge").
    Result<PurgeReport> purge_before(const TenantId& tenant, Timestamp cutoff, std::size_t max_entries = 100'000);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::audit
