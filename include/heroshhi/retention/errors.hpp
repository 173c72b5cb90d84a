// heroshhi — error codes of the retention area (policy configuration, sweeper set-up, sweeps).
#pragma once

#include <system_error>

namespace heroshhi::retention {

/// Category name: "heroshhi.retention".
enum class RetentionErrc {
    invalid_period = 1,       ///< a retention period is zero, negative or absurdly long (over 100 years)
    optout_records_protected, ///< a configuration or target would auto-delete opt-out records, which the
                              ///< policy keeps indefinitely
    inconsistent_settings,    ///< settings contradict each other (messages kept longer than their lead)
    invalid_target,           ///< a retention target has no name, a duplicate name, or a category no
                              ///< target may take (audit log, opt-out records, analytics)
    invalid_options,          ///< a sweep option is out of range (batch size 0 or over 100,000)
    corrupt_journal,          ///< the persisted progress of an interrupted sweep cannot be read back
    key_unavailable,          ///< a terminated tenant's opt-out events must be reduced to keyed hashes,
                              ///< and no blind index was given (Sweeper::Setup::blind_index)
};

const std::error_category& retention_category() noexcept;
inline std::error_code make_error_code(RetentionErrc e) noexcept { return {static_cast<int>(e), retention_category()}; }

}  // namespace heroshhi::retention

template <> struct std::is_error_code_enum<heroshhi::retention::RetentionErrc> : std::true_type {};
