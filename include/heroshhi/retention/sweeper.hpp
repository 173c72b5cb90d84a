// heroshhi — retention Sweeper: runs the retention table over every tenant, from the host's own
// scheduler (cron, a timer, a job queue): `sweeper.run(clock.now())` once a day is enough.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/audit/log.hpp>
#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/retention/category.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/retention/stores.hpp>
#include <heroshhi/retention/target.hpp>

namespace heroshhi::crypto {
class BlindIndex;
}

namespace heroshhi::retention {

/// What a sweep did (or, dry, would do) to one category of one tenant.
struct Counts {
    std::int64_t soft_deleted = 0;
    std::int64_t hard_deleted = 0;
    std::int64_t cascaded = 0;  ///< rows that went with them (a lead's messages)
    std::int64_t held = 0;      ///< due rows kept because of a legal hold (on the row, its lead or the tenant)
    std::int64_t purged = 0;    ///< audit entries purged (Category::audit_log)
    std::int64_t hashed = 0;    ///< opt-out events reduced to their number's keyed hash
                                ///< (Category::optout_record, at termination)

    bool empty() const noexcept { return *this == Counts{}; }
    Counts& operator+=(const Counts& other) noexcept;
    friend bool operator==(const Counts&, const Counts&) = default;
};

/// One tenant's part of a sweep.
struct TenantReport {
    TenantId tenant;
    bool held = false;                ///< the tenant is under legal hold: nothing was deleted
    bool terminated = false;          ///< closed at least 30 days ago: all its data was due
    bool audit_chain_broken = false;  ///< its audit chain failed verification, so nothing was purged
    std::array<Counts, category_count> counts{};

    Counts& operator[](Category c) noexcept { return counts[static_cast<std::size_t>(c)]; }
    const Counts& operator[](Category c) const noexcept { return counts[static_cast<std::size_t>(c)]; }

    /// The text recorded as the target id of the tenant's "retention.sweep" audit entry:
    /// `as_of=<ISO 8601>` then `;held`, `;terminated`, `;audit_chain_broken` when set, then
    /// `;<category>:<field>=<n>,...` for each category with a non-zero field (fields soft, hard,
    /// cascaded, held, purged, hashed; zero fields left out). At most 512 bytes for any counts.
    /// Texts written before a field existed read back with that field 0.
    std::string to_audit_text(Timestamp as_of) const;
    /// Reads to_audit_text back (into a report for `tenant`); nullopt if it is not such a text.
    static std::optional<TenantReport> from_audit_text(const TenantId& tenant, std::string_view text);

    friend bool operator==(const TenantReport&, const TenantReport&) = default;
};

/// What run() did.
struct SweepReport {
    Timestamp as_of{};          ///< the time the rules were applied at (a resumed sweep keeps its own)
    bool dry_run = false;
    bool resumed = false;       ///< this run finished a sweep an earlier run left unfinished
    bool complete = false;      ///< false: stopped by the time budget or the progress callback; run
                                ///< again to continue (a real run resumes from its journal)
    std::vector<TenantReport> tenants;  ///< tenants handled by this run, in id order

    /// The sum over tenants for one category.
    Counts total(Category c) const noexcept;
};

/// Reported to the progress callback after every batch.
struct Progress {
    TenantId tenant;
    Category category = Category::lead;
    std::string_view target;             ///< the target's name; "audit_log" for the audit purge
    std::int64_t examined = 0;           ///< rows looked at in this step so far
    std::optional<std::int64_t> total;   ///< rows the step selects (Target::count), if known
    Counts counts;                       ///< the category's counts for the tenant so far
};

struct SweepOptions {
    /// Report what a real run would do, changing nothing (no deletion, no journal, no audit entry).
    bool dry_run = false;
    /// Rows per transaction (1 to 100,000). Memory use is bounded by one batch.
    std::size_t batch_size = 1000;
    /// Stop after the first batch that ends past this much time (by the sweeper's clock); the
    /// journal keeps the position and the next run continues.
    std::optional<std::chrono::milliseconds> time_budget{};
    /// Called after every batch; return false to stop as with the time budget.
    std::function<bool(const Progress&)> progress{};
    /// Carried into each tenant's audit entry, to join with the host's own logs.
    std::string request_id{};
};

/// Runs the retention Policy over every tenant of a RetentionStores.
///
/// For each tenant in id order: the plan's steps, each over every target bound to its category
/// (in batches of batch_size rows, each one transaction, its progress saved with it), then the
/// audit purge (audit::Log::purge_before, entries older than a year), then one audit entry
/// (system actor, action "retention.sweep", target type "retention_sweep", target id
/// TenantReport::to_audit_text) with the tenant's counts — also when they are all zero.
///
/// Terminated tenant, opt-out records (the plan's reduce_to_tag step): through
/// RetentionStores::store_set(), every number of the tenant's plain opt-out events is reduced to
/// its blind-index tag (OptOutStore::erase_number, as a data-subject erasure does), so it stays
/// suppressed for any Engine with the same index key, and no plain number is kept. Up to
/// batch_size distinct numbers per pass, resumable, counted as `hashed` (events) under
/// optout_record. The numbers of leads under legal hold (live or soft-deleted) stay plain and are
/// counted as `held`. Fails closed with key_unavailable, a dry run too, when there is a number to
/// reduce and Setup::blind_index is null.
///
/// Audit purge and contact holds: the purge is a prefix of the hash chain, so it stops before the
/// first due entry about a lead under legal hold (target type "contact" or "lead" with its id, or
/// "contact" with the pseudonym of its number when Setup::audit_key is given; without the key,
/// any entry naming a number by pseudonym, as it may be the held lead's); that entry and the due
/// ones after it are kept (counted as `held`) until the hold is lifted.
///
/// - Resumable: progress is kept in the SweepJournal; after a crash or an error, the next run()
///   finishes the interrupted sweep first, as of the time that sweep started (SweepReport::resumed),
///   and its counts are those of an uninterrupted sweep.
/// - Idempotent: a second sweep at the same time deletes nothing more (it still records its
///   audit entry, with zero counts).
/// - Dry run: the same walk with every write left out; its report equals that of a real run on
///   the same data.
/// - Fail closed: a store error stops the sweep and is returned; nothing is deleted that the
///   Policy does not make due, and a legal hold read at any batch stops the tenant's deletions.
///   A tenant whose audit chain is broken keeps its entries (TenantReport::audit_chain_broken)
///   and the sweep goes on.
///
/// One sweep at a time per journal name: run() calls on one Sweeper are serialised; two
/// processes sweeping the same database at once delete nothing they should not, but may split
/// or double the counts. Blocks on the stores.
class Sweeper {
public:
    struct Setup {
        /// The journal key; give each sweeper over one database its own.
        std::string name = "retention";
        /// Host targets, swept after the store's own targets of the same category.
        std::vector<TargetBinding> extra_targets;
        /// The blind index of the Engine over the same database (EngineOptions::blind_index), to
        /// reduce a terminated tenant's opt-out events to the tags that Engine recognises. Null:
        /// a sweep that has such events to reduce fails with key_unavailable. Borrowed.
        const crypto::BlindIndex* blind_index = nullptr;
        /// The Engine's EngineOptions::audit_key, so audit entries naming a held lead's number by
        /// its pseudonym are told from others; empty: while any lead is held, every due entry that
        /// names a number by pseudonym is kept as if it were the held lead's (fail closed).
        std::string audit_key;
    };

    /// Borrows everything, which must outlive the Sweeper. Fails with invalid_target if a target is
    /// null, unnamed, named twice or bound to audit_log, analytics or optout_record (the latter
    /// with optout_records_protected).
    static Result<Sweeper> create(Policy policy, RetentionStores& stores, audit::Log& log, const Clock& clock,
                                  Setup setup);
    static Result<Sweeper> create(Policy policy, RetentionStores& stores, audit::Log& log, const Clock& clock) {
        return create(std::move(policy), stores, log, clock, Setup{});
    }

    Sweeper(Sweeper&&) noexcept;
    Sweeper& operator=(Sweeper&&) noexcept;
    ~Sweeper();

    /// Sweeps every tenant as of `now` (or finishes an interrupted sweep as of its own time).
    /// Fails with invalid_options, corrupt_journal, key_unavailable, or the first store error.
    Result<SweepReport> run(Timestamp now, const SweepOptions& options = {});

    const Policy& policy() const noexcept;

private:
    struct Impl;
    explicit Sweeper(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace heroshhi::retention
