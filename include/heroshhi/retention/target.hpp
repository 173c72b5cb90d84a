// heroshhi — retention Target: the port through which a sweep deletes one kind of row. The SQLite
// and memory stores ship targets for the library's own tables; a host implements one for each
// table of its own that the retention table covers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/retention/category.hpp>

namespace heroshhi::retention {

/// Which rows of a tenant a sweep step asks a target for.
enum class Selection {
    expired,       ///< live rows whose retention clock started at or before the cutoff (a lead's
                   ///< last activity; a message's time)
    soft_deleted,  ///< rows soft-deleted at or before the cutoff (their grace period is over)
    all,           ///< every row of the tenant, live or soft-deleted (account termination); no cutoff
};

/// One row a target offers for deletion.
struct Candidate {
    std::string id;               ///< the row's key, opaque to the sweeper
    Timestamp since{};            ///< when its retention clock started: last activity, deleted_at, ...
    bool legal_hold = false;      ///< the row, or the lead it belongs to, is under legal hold
    std::int64_t dependents = 0;  ///< rows a hard delete removes with it (a lead's messages)
};

/// A page of candidates in the target's own key order.
struct CandidatePage {
    std::vector<Candidate> rows;
    std::string next;   ///< the cursor to pass as `after` for the following page
    bool more = false;  ///< false: this was the last page
};

/// One batch of deletions, to apply in one transaction.
struct Batch {
    TenantId tenant;
    Selection selection = Selection::expired;
    /// The step's cutoff. A row is changed only if it still matches the selection and cutoff and
    /// is not under legal hold when the batch runs: a hold placed after the listing still wins.
    Timestamp cutoff{};
    std::span<const std::string> ids;
    Timestamp at{};                  ///< the sweep's time: soft-deleted rows get deleted_at = at
    /// The journal key of the sweep (see SweepJournal); empty outside a sweep (an erasure, a bulk
    /// delete reusing the target): then no progress is saved.
    std::string_view sweeper;
    std::string_view progress;       ///< the sweep's progress after this batch (see Change)
};

/// What a batch changed.
struct Change {
    std::int64_t rows = 0;        ///< rows soft- or hard-deleted
    std::int64_t dependents = 0;  ///< rows removed with them (a lead's messages)
    /// True if the target stored `Batch::progress` under `Batch::sweeper` in the SweepJournal of
    /// its database in the same transaction as the change (the shipped stores do). False: the
    /// sweeper saves it right after; a crash between the two then redoes the batch on the next
    /// run, which changes nothing but leaves that batch out of the report's counts.
    bool progress_saved = false;
};

/// One kind of row that a retention rule deletes. Implementations are thread-safe, block on I/O
/// and fail with a StorageErrc (never throw). Every method is scoped by a tenant.
///
/// Contract the sweep relies on for resumability and idempotence:
/// - candidates() returns rows in a stable key order, after the cursor `after` ("" = from the
///   start), at most `limit`, held rows included (flagged), so the sweep can count them;
/// - soft_delete() and hard_delete() change only rows that still qualify (see Batch) and report
///   how many they changed; a second call with the same batch changes nothing;
/// - hard_delete() removes a row's dependents in the same transaction and, for analytics-relevant
///   rows, folds their contribution into the daily aggregates first (retention/aggregates.hpp);
/// - a target of Category::lead supports Selection::expired with soft_delete, and soft_deleted
///   and all with hard_delete; message and activity_log: expired with hard_delete; account: all
///   with hard_delete; webhook_key: expired and all with hard_delete. Other pairs are never asked
///   for.
class Target {
public:
    virtual ~Target() = default;

    /// A stable name, unique among a sweeper's targets ("contacts", "deals"); at most 64 bytes.
    virtual std::string_view name() const noexcept = 0;

    /// A page of the rows of `tenant` that match `selection` and `cutoff`.
    virtual Result<CandidatePage> candidates(const TenantId& tenant, Selection selection, Timestamp cutoff,
                                             std::string_view after, std::size_t limit) const = 0;

    /// How many rows match, held ones included (for progress reporting).
    virtual Result<std::int64_t> count(const TenantId& tenant, Selection selection, Timestamp cutoff) const = 0;

    virtual Result<Change> soft_delete(const Batch& batch) = 0;
    virtual Result<Change> hard_delete(const Batch& batch) = 0;
};

/// A target and the row of the retention table its rows fall under.
struct TargetBinding {
    Target* target = nullptr;
    Category category = Category::lead;
};

}  // namespace heroshhi::retention
