// heroshhi — SweepJournal: where an unfinished sweep keeps its progress, so the next run resumes it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::retention {

/// Keeps one opaque state text per sweeper name (the Sweeper owns the format). The shipped stores
/// also write it inside a target's batch transaction (Change::progress_saved), so a batch and the
/// progress that counts it commit together. Thread-safe; blocks on I/O; fails with a StorageErrc.
class SweepJournal {
public:
    virtual ~SweepJournal() = default;

    /// The state saved under `sweeper`; nullopt if no sweep of that name is unfinished.
    virtual Result<std::optional<std::string>> load(std::string_view sweeper) const = 0;
    /// Saves (replaces) the state.
    virtual Result<void> save(std::string_view sweeper, std::string_view state) = 0;
    /// Forgets the state: the sweep finished.
    virtual Result<void> clear(std::string_view sweeper) = 0;
};

}  // namespace heroshhi::retention
